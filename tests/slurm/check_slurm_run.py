"""Checks on a workflow run through the `slurm` profile on the test cluster (run_test.sh).

  submitted WORKDIR --profile slurm/config.yaml   every job went through sbatch and SLURM ran it
            [--cancelled-job-file FILE]           where the profile says (GPU rules: a GPU); a
                                                  training job cancelled after its first
                                                  checkpoint was retried and resumed
  same-results LOCAL_RESULTS SLURM_RESULTS        the result CSVs (eval/, tables/, ...) of the
                                                  SLURM run equal those of the local run
  stopped --state DIR                             the daemons setup_cluster.sh started are gone

Each prints what it checked and exits 1 with the reasons when a check fails.
"""

import argparse
import math
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

RULE_HEADER = re.compile(r"^(local)?rule (\w+):$")
HEADER_FIELD = re.compile(r"^\s+(\w+): (.*)$")
SUBMITTED_LINE = re.compile(r"^Job \d+ has been submitted with SLURM jobid (\d+)")
FINISHED_LINE = re.compile(r"^Finished jobid: \d+ \(Rule: (\w+)\)")


@dataclass
class Job:
    rule: str
    local: bool
    logs: list[str]
    slurm_ids: list[str] = field(default_factory=list)  # one per submission, in order


@dataclass
class RunLog:
    # Snakemake's job ids are reused within a run, so jobs are keyed by the comment the plugin
    # gives each sbatch job: rule_{rule}, or rule_{rule}_wildcards_{values joined by "_"}.
    jobs: dict[str, Job]
    submitted: list[str]  # SLURM job ids, in order
    finished: Counter  # finished jobs per rule


def job_comment(rule: str, wildcards: str) -> str:
    """The plugin's sbatch --comment for a job, from the log's `wildcards: a=x, b=y` line."""
    values = [item.split("=", 1)[1].replace("/", "_") for item in wildcards.split(", ") if item]
    return f"rule_{rule}_wildcards_{'_'.join(values)}" if values else f"rule_{rule}"


def parse_snakemake_log(text: str) -> RunLog:
    run = RunLog(jobs={}, submitted=[], finished=Counter())
    header: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if header and (match := HEADER_FIELD.match(line)):
            header[match[1]] = match[2]
            continue
        if header:  # the block announcing a job ended; a retry announces it again
            comment = job_comment(header["rule"], header.get("wildcards", ""))
            logs = header["log"].split(", ") if "log" in header else []
            run.jobs.setdefault(comment, Job(header["rule"], bool(header["local"]), logs))
            header = {}
        if match := RULE_HEADER.match(line):
            header = {"rule": match[2], "local": match[1] or ""}
        elif match := SUBMITTED_LINE.match(line):
            run.submitted.append(match[1])
        elif match := FINISHED_LINE.match(line):
            run.finished[match[1]] += 1
    return run


def latest_snakemake_log(workdir: Path) -> Path:
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        sys.exit(f"no Snakemake log under {workdir}/.snakemake/log")
    return logs[-1]


def scontrol_job(slurm_id: str) -> dict[str, str]:
    """`scontrol show job -d` as a dict (finished jobs stay visible for MinJobAge)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--details", "--oneliner", slurm_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


@dataclass
class Placement:
    partition: str
    gpus: int


def placement_by_profile(profile: dict, rule: str) -> Placement:
    """Where the profile sends jobs of `rule`: set-resources over default-resources."""
    resources = {**profile.get("default-resources", {}), **profile["set-resources"].get(rule, {})}
    return Placement(partition=resources["slurm_partition"], gpus=int(resources.get("gpu", 0)))


# What miam.runs.checkpoints logs (RESUMING) when a run continues from its checkpoint.
RESUMED = "resuming from"


def check_retried(job: Job, cancelled_id: str, workdir: Path) -> list[str]:
    """The job cancelled after its first checkpoint was resubmitted, and the new attempt resumed."""
    print(f"  {job.rule}: slurm job {cancelled_id} was cancelled, attempts {job.slurm_ids}")
    problems = []
    state = scontrol_job(cancelled_id)["JobState"]
    if state != "CANCELLED":
        problems.append(f"slurm job {cancelled_id} ended {state}, not CANCELLED")
    if job.slurm_ids[-1] == cancelled_id:
        problems.append(f"{job.rule}: not resubmitted after slurm job {cancelled_id} was cancelled")
    log = workdir / job.logs[0]
    if RESUMED in log.read_text():
        print(f"  {log}: the retry resumed from the checkpoint")
    else:
        problems.append(f"{log} does not say '{RESUMED}': the retry started over")
    return problems


def check_submitted(
    workdir: Path, profile_path: Path, cancelled_job_file: Path | None
) -> list[str]:
    profile = yaml.safe_load(profile_path.read_text())
    log_path = latest_snakemake_log(workdir)
    run = parse_snakemake_log(log_path.read_text())
    print(f"{log_path}: {len(run.jobs)} jobs, {len(run.submitted)} sbatch submissions")
    problems = []
    for slurm_id in run.submitted:
        comment = scontrol_job(slurm_id)["Comment"]
        if comment in run.jobs:
            run.jobs[comment].slurm_ids.append(slurm_id)
        else:
            problems.append(f"slurm job {slurm_id} ({comment}) matches no job in the log")
    local_rules = sorted({job.rule for job in run.jobs.values() if job.local})
    print(f"  run on the submitting host (the workflow's localrules): {local_rules}")
    remote = {comment: job for comment, job in run.jobs.items() if not job.local}
    if not remote:
        problems.append("no job was submitted to SLURM")
    completed: Counter = Counter(job.rule for job in run.jobs.values() if job.local)
    gpu_jobs = 0
    for comment, job in sorted(remote.items()):
        if not job.slurm_ids:
            problems.append(f"{comment}: no SLURM job id in the log")
            continue
        expected = placement_by_profile(profile, job.rule)
        final = scontrol_job(job.slurm_ids[-1])
        gres = final.get("JOB_GRES", "(null)")
        given_gpus = sum(int(n) for n in re.findall(r"gpu(?::\w+)?:(\d+)", gres))
        print(
            f"  {comment[:60]:<60} slurm {','.join(job.slurm_ids):<9} {final['JobState']:<10}"
            f" {final['Partition']} gpus={given_gpus}"
        )
        completed[job.rule] += final["JobState"] == "COMPLETED"
        if final["JobState"] != "COMPLETED":
            problems.append(f"{comment}: last attempt ended {final['JobState']}")
        if final["Partition"] != expected.partition:
            problems.append(
                f"{comment}: ran in partition {final['Partition']}, profile says "
                f"{expected.partition}"
            )
        if given_gpus != expected.gpus:
            problems.append(
                f"{comment}: given {given_gpus} GPUs, profile says {expected.gpus} (a rule that "
                "asks for a GPU belongs under set-resources in the profile)"
            )
        gpu_jobs += expected.gpus > 0
    for rule in sorted(run.finished.keys() | completed.keys()):
        if run.finished[rule] != completed[rule]:
            problems.append(
                f"{rule}: Snakemake finished {run.finished[rule]} jobs, "
                f"{completed[rule]} of them completed locally or in SLURM"
            )
    print(f"  {len(remote)} jobs through sbatch, {gpu_jobs} of them on a GPU")
    if cancelled_job_file:
        if not cancelled_job_file.exists():
            problems.append(f"no {cancelled_job_file}: no job was cancelled to test the retry")
        else:
            cancelled_id = cancelled_job_file.read_text().strip()
            owners = [job for job in remote.values() if cancelled_id in job.slurm_ids]
            if owners:
                problems += check_retried(owners[0], cancelled_id, workdir)
            else:
                problems.append(f"cancelled slurm job {cancelled_id} belongs to no job")
    return problems


# Where the tidy results live; other CSVs (training histories) record wall times, which differ.
RESULT_FOLDERS = {"eval", "tables", "contributions"}


def result_csvs(results: Path) -> dict[Path, Path]:
    """Every CSV inside an eval, tables or contributions directory under `results`, by path."""
    return {
        path.relative_to(results): path
        for path in sorted(results.rglob("*.csv"))
        if RESULT_FOLDERS & set(path.relative_to(results).parts)
    }


def table_differences(expected: pd.DataFrame, actual: pd.DataFrame, atol: float) -> list[str]:
    if list(expected.columns) != list(actual.columns):
        return [f"columns {list(actual.columns)} != {list(expected.columns)}"]
    if len(expected) != len(actual):
        return [f"{len(actual)} rows != {len(expected)}"]
    differences = []
    for column in expected.columns:
        for row, (want, got) in enumerate(zip(expected[column], actual[column], strict=True)):
            both_numbers = isinstance(want, int | float) and isinstance(got, int | float)
            if both_numbers:
                equal = (math.isnan(want) and math.isnan(got)) or abs(want - got) <= atol
            else:
                equal = want == got
            if not equal:
                differences.append(f"row {row}, {column}: {got!r} != {want!r}")
    return differences


def check_same_results(local_results: Path, slurm_results: Path, atol: float) -> list[str]:
    """Every result CSV of the SLURM run equals the local run's (which may have built more)."""
    slurm, local = result_csvs(slurm_results), result_csvs(local_results)
    problems = []
    if not any("tables" in name.parts for name in slurm):
        problems.append(f"no CSV under a tables/ directory in {slurm_results}")
    for name, path in slurm.items():
        if name not in local:
            problems.append(f"{name}: not in the local results")
            continue
        differences = table_differences(pd.read_csv(local[name]), pd.read_csv(path), atol)
        if differences:
            print(f"  {name}: DIFFERENT")
        problems += [f"{name}: {difference}" for difference in differences[:10]]
    print(
        f"{len(slurm)} result CSVs of the SLURM run compared with the local run (tolerance {atol})"
    )
    return problems


def check_stopped(state: Path) -> list[str]:
    pids_file = state / "stopped.pids"
    if not pids_file.exists():
        return [f"no {pids_file}: stop_cluster.sh did not stop the cluster"]
    problems = []
    for line in pids_file.read_text().splitlines():
        name, pid = line.split()
        alive = Path(f"/proc/{pid}").exists()
        print(f"  {name} ({pid}): {'RUNNING' if alive else 'stopped'}")
        if alive:
            problems.append(f"{name} ({pid}) is still running")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    submitted = commands.add_parser("submitted")
    submitted.add_argument("workdir", type=Path)
    submitted.add_argument("--profile", type=Path, required=True)
    submitted.add_argument(
        "--cancelled-job-file",
        type=Path,
        help="holds the id of a training job cancelled after a checkpoint; it must have resumed",
    )
    same = commands.add_parser("same-results")
    same.add_argument("local_results", type=Path)
    same.add_argument("slurm_results", type=Path)
    same.add_argument("--atol", type=float, default=1e-6)
    stopped = commands.add_parser("stopped")
    stopped.add_argument(
        "--state", type=Path, default=os.environ.get("MIAM_SLURM_STATE", "/tmp/miam-slurm")
    )
    args = parser.parse_args()

    if args.command == "submitted":
        problems = check_submitted(args.workdir, args.profile, args.cancelled_job_file)
    elif args.command == "same-results":
        problems = check_same_results(args.local_results, args.slurm_results, args.atol)
    else:
        problems = check_stopped(args.state)
    for problem in problems:
        print(f"FAILED: {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
