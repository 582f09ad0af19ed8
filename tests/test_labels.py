"""Honest sources and clean markup: every step of every target and route carries one of three
labels (vendor document, field report, added by umrunbook) with its reference or its reason, in
the view and in each face; code in step prose is code in every face, never a backtick."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import need, need_root
from tests.helpers import KEY
from tests.helpers.html import parse_html
from tests.helpers.pdf import squeeze
from tests.helpers.targets import CATALOGUE, PLANS, SHA, plan_for
from umrunbook.faces.commonmark import render_view
from umrunbook.faces.html import render_html
from umrunbook.faces.markdown import render_markdown
from umrunbook.faces.pdf import render_pdf
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import RunbookView, StepView, runbook_view
from umrunbook.library import paths
from umrunbook.planning.plan import PlannedStep

LABEL = re.compile(
    r"^(Vendor document \((?P<vref>[A-Za-z0-9-]+)(, [^{}]+)?\)"
    r"|Field report \((?P<fref>[A-Za-z0-9-]+)(, [^{}]+)?\)"
    r"|Added by umrunbook: (?P<why>[^{}]{12,}))$"
)


def every_step(view: RunbookView) -> list[tuple[str, PlannedStep]]:
    """Every step the runbook shows, with the name the faces head it with."""
    found: list[tuple[str, PlannedStep]] = []
    for hop in view.hops:
        views: list[StepView] = [sv for phase in hop.phases for sv in phase.steps]
        found += [(sv.heading, sv.step) for sv in views]
        found.append((hop.certificates_heading, hop.certificates))
        found += [(sv.heading, sv.step) for sv in hop.backout]
    found.append(("Closing the change", view.cleanup))
    return found


def check_label(step: PlannedStep) -> str:
    label = step.source_label
    match = LABEL.match(label)
    assert match, f"{step.id}: {label!r} is none of the three labels with its reference or reason"
    kind = step.source.kind
    if match["vref"]:
        assert kind == "vendor" and match["vref"] == step.source.id, (step.id, label)
    elif match["fref"]:
        assert kind == "field" and match["fref"] == step.source.id, (step.id, label)
    else:
        assert kind == "tool" and step.source_note.strip(), (step.id, label)
    return label


@pytest.mark.parametrize("name", PLANS)
def test_every_step_has_one_of_three_labels_in_the_view_and_the_markdown(name: str) -> None:
    view = runbook_view(PLANS[name]())
    markdown = render_markdown(view.plan)
    position = 0
    for heading, step in every_step(view):
        label = check_label(step)
        # The step's own section names the label (the Markdown and the HTML share this text).
        start = markdown.index(heading, position)
        position = start + len(heading)
        end = markdown.find("\n#", start + len(heading))
        section = markdown[start : end if end >= 0 else None]
        assert f"**Source:** {label.replace('_', chr(92) + '_')}" in section, (heading, label)
    assert "umrunbook check" not in markdown


@pytest.mark.parametrize("name", ["4.3", "route 4.2 -> 4.7"])
def test_every_label_shows_in_the_html_and_the_pdf(name: str, tmp_path: Path) -> None:
    view = runbook_view(PLANS[name]())
    labels = [check_label(step) for _, step in every_step(view)]
    page = parse_html(render_html(view, RenderOptions()).decode())
    html_text = " ".join(page.text.split())
    for label in labels:
        assert f"Source: {label}" in html_text, label
    need("pdftotext")
    path = tmp_path / "runbook.pdf"
    path.write_bytes(render_pdf(view, RenderOptions()))
    pdf = squeeze(_pdftotext(path))
    for label in labels:
        assert squeeze(f"Source: {label}") in pdf, label


def test_a_step_umrunbook_adds_without_a_reason_is_refused() -> None:
    from umrunbook.catalogue.procedure import CatalogueError, parse_procedure

    text = Path(__file__).parent.parent / "generator/umrunbook/catalogue/procedures/um-4.3.yaml"
    source = text.read_text(encoding="utf-8") + (
        "step_changes:\n  - change: preflight\n    step: {source_note: ''}\n"
    )
    with pytest.raises(
        CatalogueError, match=r"preflight: a step umrunbook adds .* needs its reason"
    ):
        parse_procedure(source, "um-4.3.yaml")


def test_claims_match_the_sources() -> None:
    """What upgrade-sources.md says, and no more: the revert advice is the vendor's for 4.5 only;
    the folder, the backout's record and the proxy's reason are not the vendor's."""
    for target in ("4.4", "4.5", "4.6", "4.7"):
        procedure = CATALOGUE.get(target)
        assert procedure is not None
        until = " ".join(procedure.backout.snapshot_until.split())
        impact = " ".join(procedure.risk.impact.split())
        if target == "4.5":
            assert "the vendor advises not to revert" in until
            assert "extrapolated" not in until + impact
        elif target == "4.4":
            assert "advises" not in until and "extrapolated" not in until
        else:
            assert "For 4.5 the vendor advises not to revert" in until
            assert "extrapolated from 4.5" in until and "extrapolated from 4.5" in impact
        steps = {s.id: s for s in procedure.steps}
        assert procedure.reference(steps["upload"].source).kind == "tool"
        assert "umrunbook's choice" in steps["upload"].source_note
        record = procedure.backout.steps[-1]
        assert procedure.reference(record.source).kind == "tool", target
        if "proxy" in steps:
            assert "need the proxy" not in steps["proxy"].if_not
    for target in ("4.2", "4.3"):
        procedure = CATALOGUE.get(target)
        assert procedure is not None
        assert procedure.reference(procedure.backout.steps[-1].source).kind == "tool"
        assert "collectors catch up" not in procedure.risk.impact
    lines = "\n".join(paths())
    assert "4.3   ums-system-upgrade.shar (reboot)" in lines
    for target in ("4.4", "4.5", "4.6", "4.7"):
        assert re.search(rf"-> {target} .*\(reboot: field reports, not the vendor's pages\)", lines)


def test_the_tdnf_step_says_what_the_field_report_saw_and_needs_no_repository() -> None:
    plan = PLANS["4.5"]()
    (step,) = [s for s in plan.hops[0].steps if s.id == "check-tdnf"]
    text = " ".join((step.text.plain + " " + step.expect.plain + " " + step.if_not.plain).split())
    assert "1.2.3" in text and "3.1.8" in text
    assert "tdnf 2" not in text and "1.x" not in text  # no threshold the source does not give
    assert "NO-GO" in step.if_not.plain and "support case with the vendor" in text
    assert "yum update" not in text  # the field report's fix needs a repository
    assert step.phase == "before"
    assert step.source.id == "WOMB" and step.source.kind == "field"


# -- markup -----------------------------------------------------------------------------------


class _Outside(HTMLParser):
    """The page's text outside <code>, <pre>, <script> and <style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("code", "pre", "script", "style"):
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre", "script", "style"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.text.append(data)


def _pdftotext(path: Path) -> str:
    result = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    )
    return result.stdout


@pytest.mark.parametrize("name", ["4.3", "4.5", "route 4.2 -> 4.7", "route 4.1 -> 4.6"])
def test_no_backtick_shows_in_the_html_or_the_pdf(name: str, tmp_path: Path) -> None:
    view = runbook_view(PLANS[name]())
    outside = _Outside()
    outside.feed(render_html(view, RenderOptions()).decode())
    text = "".join(outside.text)
    assert "`" not in text, text[max(0, text.find("`") - 80) : text.find("`") + 80]
    # The commands that were backticked in the prose are code in the page.
    if name != "4.3":
        page = render_html(view, RenderOptions()).decode()
        for code in ("vi /etc/sysconfig/proxy", "cat /etc/sysconfig/proxy", "--skipdigest"):
            if name == "route 4.1 -> 4.6" and "proxy" in code:
                continue
            assert f"<code>{code}</code>" in page, code
    need("pdftotext")
    path = tmp_path / "runbook.pdf"
    path.write_bytes(render_pdf(view, RenderOptions()))
    pdf = _pdftotext(path)
    assert "`" not in pdf, pdf[max(0, pdf.find("`") - 80) : pdf.find("`") + 80]


def test_code_in_step_prose_is_code_in_the_markdown_and_the_pdf_data() -> None:
    from umrunbook.faces.pdf_data import segments

    plan = PLANS["4.5"]()
    (proxy,) = [s for s in plan.hops[0].steps if s.id == "proxy"]
    assert ("vi /etc/sysconfig/proxy", True) in proxy.text.segments
    assert ["vi /etc/sysconfig/proxy", "value"] in segments(proxy.text)
    assert "`vi /etc/sysconfig/proxy`" in render_view(runbook_view(plan))
    assert "\\`" not in render_markdown(plan)  # never an escaped, literal backtick


def test_a_missing_value_reads_as_words_and_a_step_with_nothing_to_check_is_left_out() -> None:
    plan = plan_for("4.5", "4.4.0", sha256=False, snapshot="")
    markdown = render_markdown(plan)
    assert "not given in the inventory" not in markdown
    assert [s for s in plan.hops[0].steps if s.id == "check-bundle"] == []
    assert "in the workstation's download folder." in markdown
    assert "`the workstation's download folder`" not in markdown
    assert "`the VM's location in vCenter`" not in markdown
    # With the values given, they are values.
    given = plan_for("4.5", "4.4.0", local_folder="C:\\Upgrades\\4.5")
    assert "`C:\\Upgrades\\4.5`" in render_markdown(given)
    (check,) = [s for s in given.hops[0].steps if s.id == "check-bundle"]
    assert (SHA, True) in check.expect.segments


# -- the certificate check, the clean-up, the night's accounts and the web interface ---------


def test_the_runbook_quotes_what_openssl_verify_prints_without_the_issuers_chain(
    tmp_path: Path,
) -> None:
    """A certificate signed by a CA the machine does not hold, as the appliance sees the vendor's:
    openssl verify prints the message the runbook calls expected; the signature still decides."""
    need("openssl")

    def openssl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", *args], cwd=tmp_path, capture_output=True, text=True, check=False
        )

    for args in (
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2",
        "req -newkey rsa:2048 -nodes -keyout s.key -out s.csr",
        "x509 -req -in s.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out s.crt -days 2",
    ):
        subject = ("-subj", "/O=Test CA/CN=Test CA" if "ca.crt -days" in args else "/O=VMware/CN=T")
        made = openssl(*args.split(), *(subject if args.startswith("req") else ()))
        assert made.returncode == 0, made.stderr
    verify = openssl("verify", "s.crt")
    assert verify.returncode != 0
    plan = PLANS["4.7"]()
    (step,) = [s for s in plan.hops[0].steps if s.id == "check-upload"]
    expect = " ".join(step.expect.plain.split())
    quoted = re.search(r'"(unable to get local issuer certificate)"', expect)
    assert quoted and quoted.group(1) in verify.stdout + verify.stderr
    assert "expected" in expect and "The signature decides" in expect
    assert "Subject" in expect and "Not After" in expect
    text = openssl("x509", "-in", "s.crt", "-noout", "-text").stdout
    assert "Subject:" in text and "Not After" in text  # what the runbook names is on the page
    assert "Do not go on" in step.if_not.plain and "unable to get" not in step.if_not.plain


@pytest.mark.parametrize("mounted", [False, True], ids=["after-restart", "still-mounted"])
def test_the_iso_clean_up_runs_clean(mounted: bool, tmp_path: Path) -> None:
    """The clean-up's lines, as the runbook prints them, run as root in a mount namespace of
    their own with a /root of its own: after the restart (nothing mounted) no "not mounted"
    error, and with the ISO still mounted it is unmounted first; either way the upload folder
    is gone and "removed" is the only output. The vCenter action is a step of its own."""
    need_root()
    need("unshare", "mountpoint")
    plan = PLANS["4.7"]()
    steps = {s.id: s for s in plan.hops[0].steps}
    clean = steps["remove-upload"]
    assert clean.where == "console" and steps["disconnect-cd"].where == "vcenter"
    assert not any("umount" in line for block in steps["stop-ssh"].commands for line in block.lines)
    (block,) = clean.commands
    folder = plan.hops[0].procedure.upload_folder
    assert f"rm -rf -- {folder}" in block.lines
    setup = [
        "mount --make-rprivate /",
        "mount -t tmpfs tmpfs /root",
        f"mkdir -p {folder} /root/upgrade",
        f"touch {folder}/{plan.hops[0].bundle[0].name} {folder}/um-upgrade-agent.sh",
        *(
            ["mount -t tmpfs tmpfs /root/upgrade", "touch /root/upgrade/upgrade-um.sh"]
            if mounted
            else []
        ),
        "exec 2>&1 1>&3",  # from here on the step's output, its errors included, on stdout
    ]
    after = [
        f"if test -e {folder}; then exit 9; fi",
        "if mountpoint -q /root/upgrade; then exit 8; fi",
    ]
    script = tmp_path / "clean.sh"
    script.write_text("\n".join(["set -e", *setup, *block.lines, *after]) + "\n")
    result = subprocess.run(
        ["unshare", "-m", "bash", "-c", f"bash {script} 3>&1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result
    assert result.stdout == "removed\n" and result.stderr == "", result


def test_the_night_knows_the_web_interface_the_lock_out_and_the_password_expiry() -> None:
    for target in ("4.2", "4.3", "4.4", "4.5", "4.6", "4.7"):
        plan = PLANS[target]()
        steps = {s.id: s for s in plan.hops[0].steps}
        web = steps["web-version"]
        assert web.where == "webui"
        assert ("https://um-lab-01.corp.example/", True) in web.text.segments
        assert f"Usage Meter {target}" in web.expect.plain
        ids = list(steps)
        assert ids.index("web-version") > ids.index("verify")
        lockout = steps.get("account-lockout")
        if target in ("4.6", "4.7"):
            assert lockout is not None
            assert lockout.commands[0].lines == ("pam_tally2 --user=usagemeter --reset",)
            assert (
                "Three wrong passwords" in lockout.text.plain and "15 minutes" in lockout.text.plain
            )
            assert lockout.source.id == "VM46-adm"
            assert ("extrapolated from 4.6" in lockout.source_note) is (target == "4.7")
            assert ids.index("account-lockout") + 1 == ids.index("web-version")
        else:
            assert lockout is None
        if plan.hops[0].procedure.delivery == "iso":
            expiry = steps["password-expiry"]
            assert expiry.phase == "before" and "chage -l root" in expiry.commands[0].lines
            assert "90 days" in expiry.text.plain
            assert ("extrapolated" in expiry.source_note) is (target in ("4.4", "4.7"))
    ipv6 = plan_for("4.7", "4.5.0", host="2001:db8::7")
    (web,) = [s for s in ipv6.hops[0].steps if s.id == "web-version"]
    assert ("https://[2001:db8::7]/", True) in web.text.segments


def test_the_transfer_guide_shows_no_placeholder_as_code() -> None:
    """Without a folder in the inventory, the words say what to type; no code holds FOLDER."""
    for local_folder in ("", "C:\\Upgrades\\4.7"):
        plan = plan_for("4.7", "4.5.0", local_folder=local_folder, host_key=KEY)
        view = runbook_view(plan)
        blocks = [
            b
            for hop in view.hops
            for phase in (*view.before, *hop.phases)
            for sv in phase.steps
            for b in (*sv.details, *hop.prerequisite_blocks)
        ]
        code = [line for b in blocks if b.kind == "code" for line in b.lines]
        assert not any("FOLDER" in line for line in code), code
        words = " ".join(text for b in blocks for text, _ in b.parts)
        assert "FOLDER" not in words
        if local_folder:
            assert f'winscp-upload.cmd "{local_folder}"' in code
        else:
            assert "winscp-upload.cmd" in code
            assert "The inventory names no folder for the four files" in words
