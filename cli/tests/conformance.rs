//! End-to-end: `anyctr conformance` against the harness's real engines. The subsets are small (a
//! few trials of one setup): the whole suite on every setup is `cargo xtask conformance`'s job.

mod common;

use common::{anyctr, assert_one_line_error, image};
use serde_json::Value;

#[test]
fn exec_trials_pass_on_docker_runc_and_print_the_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = anyctr()
        .timeout(std::time::Duration::from_secs(120))
        .args(["conformance", "--engine", "docker/runc", "--trial", "exec.", "--image", &image(), "--json"])
        .arg(&report)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The matrix: a column per setup, a row per trial, then the totals.
    let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["trial", "docker/runc"], "{stdout}");
    let row = |name: &str| {
        let line = stdout.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} row: {stdout}"));
        line[name.len()..].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert_eq!(row("exec.exit_codes"), "pass");
    assert_eq!(row("exec.stdin_eof"), "pass");
    assert_eq!(row("total failed"), "0");
    assert_eq!(row("problems"), "0");
    assert!(stdout.contains("capability"), "the coverage follows: {stdout}");
    assert!(stderr.contains("== docker/runc (docker://"), "{stderr}");
    // The report: every trial that ran passed; none was skipped without saying why.
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let setups = json["setups"].as_array().unwrap();
    assert_eq!(setups.len(), 1, "{json}");
    assert_eq!((setups[0]["setup"].as_str(), setups[0]["reachable"].as_bool()), (Some("docker/runc"), Some(true)));
    let trials = setups[0]["trials"].as_array().unwrap();
    assert!(trials.len() >= 8, "the exec trials ran: {trials:?}");
    for t in trials {
        assert!(t["name"].as_str().unwrap().starts_with("exec."), "{t}");
        match t["outcome"].as_str().unwrap() {
            "pass" | "unsupported" => {}
            "skipped" => assert!(t["detail"].as_str().unwrap().starts_with("not applicable: "), "{t}"),
            other => panic!("{other}: {t}"),
        }
    }
}

#[test]
fn bad_input_gives_one_line_and_its_exit_code() {
    // No image: said before any engine is asked.
    let out = anyctr().env_remove("ANYCTR_TEST_IMAGE").args(["conformance"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", String::from_utf8_lossy(&out.stderr));
    assert_one_line_error(&out.stderr, "give --image IMAGE or set ANYCTR_TEST_IMAGE");
    let image = image();
    let cases: [(&[&str], &str); 3] = [
        // A filter that matches nothing is an error naming what there is, not an empty pass.
        (&["--engine", "no-such-setup"], "no setup matches --engine \"no-such-setup\"; the setups are: "),
        (&["--trial", "no-such.trial"], "no trial matches --trial \"no-such.trial\""),
        (&["--engine", "docker/runc", "-o", "yaml"], "yaml"),
    ];
    for (args, what) in cases {
        let out = anyctr().args(["conformance", "--image", &image]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // clap's own usage error is several lines (with the possible values), as for every command.
        if !args.contains(&"yaml") {
            assert_one_line_error(&out.stderr, what);
        }
        if args.contains(&"no-such-setup") {
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("docker/runc"), "the setups named: {said}");
        }
    }
}

#[test]
fn a_failure_exits_3_and_shows_in_the_matrix() {
    // An image no engine has: the fixture cannot be made, which fails the setup (quickly).
    let out = anyctr()
        .args(["conformance", "--engine", "docker/runc", "--trial", "exec.env"])
        .args(["--image", "localhost/anyctr-no-such-image:cli-test"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let failed = stdout.lines().find(|l| l.starts_with("fixture.create")).unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(failed.split_whitespace().collect::<Vec<_>>(), ["fixture.create", "FAIL"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image"), "the reason is told");
}
