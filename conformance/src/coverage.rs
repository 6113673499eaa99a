//! Which trials stand behind each capability: the one table of the suite's promise that every
//! field of [`Capabilities`] is exercised when claimed and checked against the engine when not.
//! A capability added to [`Capabilities`] without a row here fails this module's tests; a setup on
//! which a claimed capability ends up exercised by no trial fails its run.

use super::declared::{self, Check};
use super::report::{CapabilityReport, Coverage, Outcome, TrialReport};
use anyctr_core::capability::Capabilities;

/// One capability's trials.
pub(super) struct CapabilityTrials {
    pub capability: &'static str,
    /// Trials that exercise the capability when it is claimed. Each lists the capability in its
    /// `requires`, so it is registered exactly when the capability is claimed (and its other
    /// requirements are).
    pub exercised_by: &'static [&'static str],
    /// The trial that checks the engine refuses the capability when it is not claimed.
    pub declared: (&'static str, Check),
}

const fn row(
    capability: &'static str,
    exercised_by: &'static [&'static str],
    declared: (&'static str, Check),
) -> CapabilityTrials {
    CapabilityTrials { capability, exercised_by, declared }
}

/// Every capability, in [`Capabilities::NAMES`] order.
pub(super) fn table() -> Vec<CapabilityTrials> {
    vec![
        row(
            "inspect",
            &[
                "inspect.list_running",
                "inspect.list_label_filter",
                "inspect.labels_env",
                "inspect.state",
                "inspect.runtime_class",
                "inspect.mounts",
                "inspect.log_path",
                "lookup.full_id",
                "lookup.short_prefix",
                "lookup.name",
                "lookup.unknown",
                "host_path.mount",
                "index.follows_lifecycle",
            ],
            ("inspect.declared_unsupported", declared::inspect),
        ),
        row(
            "exec",
            &[
                "exec.stdout_stderr_apart",
                "exec.exit_codes",
                "exec.background_child",
                "exec.output_after_exit",
                "exec.missing_binary",
                "exec.non_utf8",
                "exec.output_limit",
                "exec.bad_request",
                "exec_errors.argv_over_limit",
                "exec_errors.unknown_container_said_once",
                "lifecycle.exec_on_stopped",
            ],
            ("exec.declared_unsupported", declared::exec_plain),
        ),
        row(
            "exec_with_stdin",
            &["exec.stdin_eof", "exec_stream.stdin_writer"],
            ("exec.stdin_declared_unsupported", declared::exec_with_stdin),
        ),
        row(
            "exec_with_user",
            &["exec.user", "exec_errors.unknown_user"],
            ("exec.user_declared_unsupported", declared::exec_with_user),
        ),
        row(
            "exec_with_workdir",
            &["exec.working_dir", "exec_errors.missing_working_dir"],
            ("exec.working_dir_declared_unsupported", declared::exec_with_workdir),
        ),
        row("exec_with_env", &["exec.env"], ("exec.env_declared_unsupported", declared::exec_with_env)),
        row(
            "exec_kill",
            &["exec.timeout_kills", "exec_stream.drop_kills"],
            ("exec.kill_declared_unsupported", declared::exec_kill),
        ),
        row(
            "exec_stream",
            &["exec_stream.chunks_and_exit", "exec_stream.stdin_writer", "exec_stream.drop_kills"],
            ("exec_stream.declared_unsupported", declared::exec_stream),
        ),
        row("copy_to", &["copy.to_file", "copy.to_directory"], ("copy.to_declared_unsupported", declared::copy_to)),
        row(
            "copy_from",
            &["copy.from_file", "copy.from_directory_with_symlink", "copy.missing_source"],
            ("copy.from_declared_unsupported", declared::copy_from),
        ),
        row("events", &["events.start_and_exit"], ("events.declared_unsupported", declared::events)),
        row(
            "host_rootfs",
            &["host_path.rootfs", "host_path.symlink_escape"],
            ("host_path.rootfs_declared_unsupported", declared::host_rootfs),
        ),
        row(
            "proc_root",
            &["inspect.proc_root", "lookup.by_pid", "lookup.by_cgroup_id", "lookup.by_netns"],
            ("inspect.proc_root_declared_unsupported", declared::proc_root),
        ),
        row("nsenter", &["exec.nsenter_fast_path"], ("exec.nsenter_declared_unsupported", declared::nsenter)),
        row(
            "lifecycle",
            &[
                "lifecycle.run_wait_remove",
                "lifecycle.stop_and_kill",
                "lifecycle.exec_on_stopped",
                "lifecycle.bad_spec",
                "events.start_and_exit",
                "index.follows_lifecycle",
            ],
            ("lifecycle.declared_unsupported", declared::lifecycle),
        ),
        row("images", &["images.list", "images.load_refuses_junk"], ("images.declared_unsupported", declared::images)),
        row("pods", &["pods.identity", "pods.sandbox", "pods.grouping"], ("pods.declared_unsupported", declared::pods)),
        row(
            "logs",
            &["logs.tail", "logs.follow", "logs.since", "logs.streams_apart", "logs.partial_line", "logs.rotation"],
            ("logs.declared_unsupported", declared::logs),
        ),
        row("top", &["top.processes", "top.pid1_and_zombies"], ("top.declared_unsupported", declared::top)),
        row(
            "probes",
            &["probe.timezone", "probe.libc", "probe.hostname", "probe.pid1"],
            ("probe.declared_unsupported", declared::probes),
        ),
        row("pause", &["lifecycle.pause_unpause"], ("lifecycle.pause_declared_unsupported", declared::pause)),
        row("restart", &["lifecycle.restart"], ("lifecycle.restart_declared_unsupported", declared::restart)),
        row(
            "update_resources",
            &["lifecycle.update_resources"],
            ("lifecycle.update_declared_unsupported", declared::update_resources),
        ),
        row("pull", &["images.pull_remove"], ("images.pull_declared_unsupported", declared::pull)),
        row(
            "stats",
            &["stats.one_shot", "stats.memory_limit", "stats.batch", "stats.sandboxed_nonzero"],
            ("stats.declared_unsupported", declared::stats),
        ),
    ]
}

/// Where each capability of the fixture stands after its setup ran. `filtered` says the run was
/// limited to some trials, so a capability without results was not asked about.
pub(super) fn assess(caps: &Capabilities, trials: &[TrialReport], filtered: bool) -> Vec<CapabilityReport> {
    let find = |name: &str| trials.iter().find(|t| t.name == name);
    table()
        .into_iter()
        .map(|row| {
            let support = caps.get(row.capability).unwrap_or_default();
            let coverage = if support.is_supported() {
                let ran: Vec<&TrialReport> = row.exercised_by.iter().filter_map(|n| find(n)).collect();
                let exercised: Vec<&'static str> =
                    ran.iter().filter(|t| t.outcome != Outcome::Skipped).map(|t| t.name).collect();
                if !exercised.is_empty() {
                    Coverage::Exercised { trials: exercised }
                } else if let Some(skipped) = ran.first() {
                    Coverage::NotApplicable { reason: skipped.detail.clone() }
                } else if filtered {
                    Coverage::NotRun
                } else {
                    Coverage::NotCovered {
                        why: format!(
                            "claimed, but none of its trials ran (their other requirements are not claimed): {}",
                            row.exercised_by.join(", ")
                        ),
                    }
                }
            } else {
                match find(row.declared.0) {
                    Some(t) => Coverage::DeclaredUnsupported { trial: t.name },
                    None if filtered => Coverage::NotRun,
                    None => Coverage::NotCovered { why: format!("not claimed, and {} did not run", row.declared.0) },
                }
            };
            CapabilityReport { capability: row.capability, support, coverage }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::all_trials;
    use anyctr_core::capability::Support;

    #[test]
    fn every_capability_has_one_row_in_declaration_order() {
        let names: Vec<&str> = table().iter().map(|r| r.capability).collect();
        assert_eq!(names, Capabilities::NAMES, "add a row (trials and a declared check) for each capability");
    }

    #[test]
    fn every_row_names_registered_trials_that_require_its_capability() {
        let trials = all_trials();
        for row in table() {
            assert!(!row.exercised_by.is_empty(), "{}: no trial exercises it", row.capability);
            for name in row.exercised_by {
                let t = trials.iter().find(|t| t.name == *name).unwrap_or_else(|| panic!("{name} is not registered"));
                assert!(t.requires.contains(&row.capability), "{name} does not require {}", row.capability);
            }
            assert!(row.declared.0.ends_with("declared_unsupported"), "{}", row.declared.0);
        }
    }

    #[test]
    fn every_trial_exercises_some_capability() {
        let table = table();
        for t in all_trials() {
            assert!(
                table.iter().any(|row| row.exercised_by.contains(&t.name)),
                "{} is in no capability's row: add it to coverage::table()",
                t.name
            );
            for cap in t.requires {
                assert!(Capabilities::NAMES.contains(cap), "{} requires unknown capability {cap}", t.name);
            }
        }
        let mut declared: Vec<&str> = table.iter().map(|r| r.declared.0).collect();
        declared.sort();
        declared.dedup();
        assert_eq!(declared.len(), table.len(), "declared checks must have distinct names");
    }

    fn report(name: &'static str, outcome: Outcome) -> TrialReport {
        TrialReport::new(name, outcome, "why".into(), 0)
    }

    #[test]
    fn a_claimed_capability_without_trials_is_not_covered() {
        let caps = Capabilities { copy_to: Support::Native, ..Default::default() };
        let got = assess(&caps, &[], false);
        let copy_to = got.iter().find(|c| c.capability == "copy_to").unwrap();
        assert!(matches!(copy_to.coverage, Coverage::NotCovered { .. }), "{copy_to:?}");
        let filtered = assess(&caps, &[], true);
        assert!(filtered.iter().all(|c| c.coverage == Coverage::NotRun));
    }

    #[test]
    fn exercised_declared_and_not_applicable_are_told_apart() {
        let caps = Capabilities { exec: Support::Native, pods: Support::Native, ..Default::default() };
        let trials = [
            report("exec.exit_codes", Outcome::Pass),
            report("exec.non_utf8", Outcome::Fail),
            report("pods.identity", Outcome::Skipped),
            report("events.declared_unsupported", Outcome::Unsupported),
        ];
        let got = assess(&caps, &trials, false);
        let of = |name: &str| &got.iter().find(|c| c.capability == name).unwrap().coverage;
        assert_eq!(of("exec"), &Coverage::Exercised { trials: vec!["exec.exit_codes", "exec.non_utf8"] });
        assert_eq!(of("pods"), &Coverage::NotApplicable { reason: "why".into() });
        assert_eq!(of("events"), &Coverage::DeclaredUnsupported { trial: "events.declared_unsupported" });
        assert!(matches!(of("images"), Coverage::NotCovered { .. }));
    }
}
