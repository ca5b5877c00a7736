//! `medledger tx contract-deploy` against a running node: a module is deployed, a new
//! version follows, refused code comes back as the transaction's outcome.

mod common;

use common::*;

/// A contract whose `call` runs `body` (raw WebAssembly instructions, ending the function)
/// with one memory page exported: the smallest module the engine accepts.
fn module(body: &[u8]) -> Vec<u8> {
    let mut code = vec![0x00];
    code.extend_from_slice(body);
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    out.extend_from_slice(&[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]); // type: () -> i32
    out.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]); // one function of that type
    out.extend_from_slice(&[0x05, 0x03, 0x01, 0x00, 0x01]); // one memory, 1 page
    out.extend_from_slice(&[0x07, 0x11, 0x02]); // two exports
    out.extend_from_slice(&[0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00]);
    out.extend_from_slice(&[0x04, b'c', b'a', b'l', b'l', 0x00, 0x00]);
    out.extend_from_slice(&[0x0a, code.len() as u8 + 2, 0x01, code.len() as u8]);
    out.extend_from_slice(&code);
    out
}

#[test]
fn deploy_a_contract_and_a_new_version_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let net = init_plain(dir.path(), 2);
    let node = NodeProcess::start(&net.join("node0"));
    let admin = net.join("admins/hospital-a.json");
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let returns_0 = write("v1.wasm", module(&[0x41, 0x00, 0x0b]));
    let returns_1 = write("v2.wasm", module(&[0x41, 0x01, 0x0b]));
    let mut float = vec![0x44];
    float.extend_from_slice(&[0; 8]);
    float.extend_from_slice(&[0x1a, 0x41, 0x00, 0x0b]);
    let floats = write("float.wasm", module(&float));
    let deploy = |wasm: &std::path::Path, version: &str| {
        medledger(&[
            "tx",
            "contract-deploy",
            "--node",
            &node.url,
            "--key",
            admin.to_str().unwrap(),
            "--org",
            "hospital-a",
            "--name",
            "plan",
            "--wasm",
            wasm.to_str().unwrap(),
            "--version",
            version,
        ])
    };
    let answer = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "stdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };

    let first = deploy(&returns_0, "1");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(answer(&first)["outcome_name"], "ok");

    let refused = deploy(&floats, "2");
    assert!(!refused.status.success(), "a refused deployment fails the command");
    let v = answer(&refused);
    assert_eq!(v["status"], "committed");
    assert_eq!(v["outcome_name"], "contract_code_float");

    let stale = deploy(&returns_1, "1");
    assert_eq!(answer(&stale)["outcome_name"], "version_conflict");

    let second = deploy(&returns_1, "2");
    assert_eq!(answer(&second)["outcome_name"], "ok");

    // Without --version the next version is read from the node's state, a members' route.
    let out = medledger(&[
        "tx",
        "contract-deploy",
        "--node",
        &node.url,
        "--key",
        admin.to_str().unwrap(),
        "--org",
        "hospital-a",
        "--name",
        "plan",
        "--wasm",
        returns_0.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give --version, or a member's --token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
