//! `benchmark ipc`.

pub fn main() -> anyhow::Result<()> {
    Ok(())
}
