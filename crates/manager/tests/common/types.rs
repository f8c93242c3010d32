//! Registered types the tests share: Python's `BaseManager.register(typeid, callable)`.

use manager::{Call, CallError, SharedType};

/// A counter: `add(n) -> total`, `get() -> total`, and methods that fail on purpose.
pub struct Counter(i64);

impl SharedType for Counter {
    const TYPEID: &'static str = "Counter";
    type Args = i64;

    fn new(start: i64) -> Result<Self, CallError> {
        match start {
            i64::MIN => Err(CallError::failed("no counter starts at i64::MIN")),
            start => Ok(Counter(start)),
        }
    }

    fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError> {
        match call.method() {
            "add" => {
                let n: i64 = call.args()?;
                self.0 = self.0.checked_add(n).ok_or(CallError::failed("overflow"))?;
                call.reply(&self.0)
            }
            "get" => call.reply(&self.0),
            "reset" => {
                self.0 = 0;
                Ok(())
            }
            "panic" => panic!("asked to panic"),
            _ => Err(call.no_such_method()),
        }
    }
}

/// A log of lines: `push(line)`, `lines() -> Vec<String>`.
pub struct Log(Vec<String>);

impl SharedType for Log {
    const TYPEID: &'static str = "Log";
    type Args = ();

    fn new((): ()) -> Result<Self, CallError> {
        Ok(Log(Vec::new()))
    }

    fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError> {
        match call.method() {
            "push" => {
                self.0.push(call.args()?);
                Ok(())
            }
            "lines" => call.reply(&self.0),
            _ => Err(call.no_such_method()),
        }
    }
}
