fn main() {
    ipc_common::testing::run(&[]);
}
