"""Prompt-aware commands as a new user meets them: pvc render, pvc check, pvc show --meta,
metadata in pvc diff / log -p, log --follow-includes, check.on_commit, and PromptSource
rendering with includes pinned to the commit."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from promptvc.serve import PromptSource, RenderError
from tests.test_prompts import BASIC_PROMPTY, GREETING


@pytest.fixture
def prompts(repo, pvc):
    """A repository holding each format, committed once and tagged v1."""
    (repo / "prompts").mkdir()
    (repo / "prompts" / "greeting.prompt").write_text(GREETING)
    (repo / "prompts" / "basic.prompty").write_text(BASIC_PROMPTY)
    (repo / "prompts" / "offer.j2").write_text(
        "---\nmodel: gpt-4o\ntemperature: 0.2\ninputs: [tone, discount, customer]\n---\n"
        'Tone: {{ tone | default("warm") }}.\n'
        "{% if discount %}Offer {{ customer }} {{ discount }}% off.\n{% endif %}"
        '{% include "footer.j2" %}')
    (repo / "prompts" / "footer.j2").write_text("Thanks, the team\n")
    (repo / "prompts" / "support.md").write_text(
        "---\nmodel: gpt-4o-mini\ntemperature: 0.5\n---\nHello {{name}}!\n{{> sig}}\n")
    (repo / "prompts" / "_sig.prompt").write_text("-- {{team}}\n")
    assert pvc("add", "prompts").exit_code == 0
    assert pvc("commit", "-m", "prompts").exit_code == 0
    assert pvc("tag", "v1").exit_code == 0
    return repo


def test_render_each_format(prompts, pvc):
    r = pvc("render", "HEAD:prompts/greeting.prompt", "-v", "name=Ada")
    assert (r.exit_code, r.stdout) == (0, "You are the world's most welcoming AI assistant and "
                                          "are currently working at a restaurant.\n\nGreet a "
                                          "guest named Ada.")
    r = pvc("render", "prompts/offer.j2", "-v", "discount=10", "-v", "customer=Bo")
    assert r.stdout == "Tone: warm.\nOffer Bo 10% off.\nThanks, the team\n"
    r = pvc("render", "v1:prompts/offer.j2")
    assert r.stdout == "Tone: warm.\nThanks, the team\n"
    r = pvc("render", "prompts/support.md", "-v", "name=Ada", "-v", "team=Support")
    assert r.stdout == "Hello Ada!\n-- Support\n"
    r = pvc("render", "HEAD:prompts/basic.prompty", "-v", "question=Hi?", "--json")
    data = json.loads(r.stdout)
    assert (data["ok"], data["rev"], data["format"]) == (True, "HEAD", "prompty")
    assert [m["role"] for m in data["messages"]] == ["system", "user"]
    assert data["messages"][1] == {"role": "user", "content": "Hi?"}
    r = pvc("render", "prompts/greeting.prompt", "-v", 'name:=["x"', "--json")
    assert r.exit_code == 2
    assert "the value of 'name' is not JSON" in r.stderr


def test_render_errors_name_the_variable_and_the_file(prompts, pvc):
    r = pvc("render", "prompts/offer.j2", "-v", "discount=5")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == ("error: prompt prompts/offer.j2 needs variable(s) customer\n"
                        "hint: pass them as keyword arguments to render() or `-v NAME=VALUE`\n")
    r = pvc("render", "prompts/support.md", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"ok": False,
                                    "error": "prompt prompts/support.md needs variable(s) name, "
                                             "team"}
    r = pvc("render", "HEAD:prompts/nope.md")
    assert r.stderr.splitlines()[0].startswith("error: path 'prompts/nope.md' does not exist in "
                                               "HEAD (")
    assert r.stderr.splitlines()[1] == "hint: did you mean `pvc render HEAD:prompts/support.md`?"
    # with no close name, the hint lists what HEAD has (`pvc show HEAD` prints a diff)
    r = pvc("render", "HEAD:zzz.txt")
    assert r.stderr.splitlines()[1].startswith("hint: HEAD has ")
    r = pvc("render", "HEAD:prompts/offer.j")
    assert r.stderr.splitlines()[1] == "hint: did you mean `pvc render HEAD:prompts/offer.j2`?"


def test_includes_are_pinned_to_the_commit(prompts, pvc):
    (prompts / "prompts" / "footer.j2").write_text("Cheers, the new team\n")
    (prompts / "prompts" / "_sig.prompt").write_text("== {{team}} ==\n")
    assert pvc("commit", "-m", "new footer").exit_code == 0
    assert pvc("render", "v1:prompts/offer.j2").stdout == "Tone: warm.\nThanks, the team\n"
    assert pvc("render", "HEAD:prompts/offer.j2").stdout == "Tone: warm.\nCheers, the new team\n"
    with PromptSource.local(prompts) as src:
        assert src.render("prompts/support.md", ref="v1", name="A", team="T") == "Hello A!\n-- T\n"
        assert src.render("prompts/support.md", ref="main", name="A", team="T") == \
            "Hello A!\n== T ==\n"
        assert src.render("prompts/offer.j2", ref="v1") == "Tone: warm.\nThanks, the team\n"
        assert src.render("prompts/offer.j2", ref="main") == "Tone: warm.\nCheers, the new team\n"
        assert src.render_messages("prompts/basic.prompty", ref="v1", question="Q")[1] == \
            {"role": "user", "content": "Q"}
        assert src.render_messages("prompts/offer.j2", ref="v1") is None
        with pytest.raises(RenderError) as err:
            src.render("prompts/support.md", ref="v1", name="A")
        assert err.value.message == "prompt prompts/support.md needs variable(s) team"


def test_prompt_source_serves_a_branch(prompts, pvc):
    assert pvc("switch", "-c", "exp-b").exit_code == 0
    (prompts / "prompts" / "footer.j2").write_text("B footer\n")
    assert pvc("commit", "-m", "b").exit_code == 0
    assert pvc("switch", "main").exit_code == 0
    with PromptSource.local(prompts) as src:
        assert src.render("prompts/offer.j2", ref="exp-b") == "Tone: warm.\nB footer\n"
        assert src.render("prompts/offer.j2", ref="main") == "Tone: warm.\nThanks, the team\n"


def test_check_clean_folder(prompts, pvc):
    r = pvc("check")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "checked 6 files: no problems found\n", "")
    r = pvc("check", "--json")
    assert json.loads(r.stdout) == {"ok": True, "checked": 6, "problems": []}


def test_check_reports_each_problem_with_exact_text(repo, pvc):
    files = {
        "bad_yaml.md": "---\nmodel: [gpt\n---\nhi\n",
        "vars.prompt": "---\ninput:\n  schema:\n    name: string\n    tone?: string\n---\n"
                       "Hi {{name}}, {{nickname}}.\n",
        "missing.prompt": "Hello\n{{> nowhere}}\n",
        "a.j2": "A\n{% include 'b.j2' %}",
        "b.j2": "{% include 'a.j2' %}",
        "merge.md": "x\n<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n",
        "broken.prompt": "ok\n{{#if x}}\nnever closed\n",
        "broken.j2": "line\n{% if x %}\n",
        "heading.md": "Title\n=======\n\ntext\n",
    }
    for name, text in files.items():
        (repo / name).write_text(text)
    r = pvc("check", *sorted(files))
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        "a.j2:2: include cycle: a.j2 -> b.j2 -> a.j2",
        "b.j2:1: include cycle: b.j2 -> a.j2 -> b.j2",
        "bad_yaml.md:3: front matter does not parse: expected ',' or ']', but got '<stream end>'",
        "broken.j2:2: template does not compile: Unexpected end of template. Jinja was looking "
        "for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to "
        "be closed is 'if'.",
        "broken.prompt:2: template does not compile: '#if' opened here is never closed with "
        "'{{/if}}'",
        "merge.md:2: leftover conflict marker '<<<<<<<'",
        "merge.md:4: leftover conflict marker '======='",
        "merge.md:6: leftover conflict marker '>>>>>>>'",
        "missing.prompt:2: include 'nowhere' does not resolve",
        "vars.prompt:5: input 'tone' is declared but never used",
        "vars.prompt:7: variable 'nickname' is used but not declared in the front matter",
    ]
    assert r.stderr == "11 problems in 8 files (checked 9 files)\n"
    data = json.loads(pvc("check", "--json", "vars.prompt").stdout)
    assert data == {"ok": False, "checked": 1, "problems": [
        {"path": "vars.prompt", "line": 5, "code": "unused",
         "message": "input 'tone' is declared but never used"},
        {"path": "vars.prompt", "line": 7, "code": "undeclared",
         "message": "variable 'nickname' is used but not declared in the front matter"}]}


def test_check_counts_variables_of_includes_and_works_outside_a_repository(tmp_path, pvc,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "main.prompt").write_text(
        "---\ninput:\n  schema:\n    team: string\n---\n{{> sig}}\n")
    (tmp_path / "p" / "_sig.prompt").write_text("-- {{team}}\n")
    r = pvc("check", "p")
    assert (r.exit_code, r.stdout) == (0, "checked 2 files: no problems found\n")
    r = pvc("check")
    assert r.exit_code == 1
    assert r.stderr == ("error: not a pvc repository, and no files were given\n"
                        "hint: give the files to check: `pvc check PATH...`\n")


def test_show_meta(prompts, pvc):
    r = pvc("show", "--meta", "HEAD:prompts/greeting.prompt")
    assert r.stdout == ("format:     dotprompt\n"
                        "model:      googleai/gemini-1.5-flash\n"
                        "parameters: temperature=0.9\n"
                        "inputs:     location: string = a restaurant\n"
                        "            style?: string\n"
                        "            name?: string\n")
    data = json.loads(pvc("show", "--meta", "--json", "v1:prompts/basic.prompty").stdout)
    assert (data["format"], data["model"], data["parameters"], data["roles"]) == \
        ("prompty", "gpt-35-turbo", {"max_tokens": 128, "temperature": 0.2}, ["system", "user"])
    assert [i["name"] for i in data["inputs"]] == ["first_name", "last_name", "question"]
    assert data["inputs"][0] == {"name": "first_name", "type": "string", "optional": True,
                                 "description": None, "default": "John"}
    data = json.loads(pvc("show", "--meta", "--json", "HEAD:prompts/support.md").stdout)
    assert (data["includes"], data["inputs"], data["front_matter"]) == \
        (["sig"], None, {"model": "gpt-4o-mini", "temperature": 0.5})
    r = pvc("show", "--meta", "HEAD")
    assert r.exit_code == 2 and "--meta shows a file: give REV:PATH, not 'HEAD'" in r.stderr


def _edit_offer(repo):
    p = repo / "prompts" / "offer.j2"
    p.write_text(p.read_text().replace("gpt-4o", "gpt-4.1").replace("0.2", "0.7")
                 .replace("customer]", "customer, tone2]"))


def test_diff_and_log_patch_say_what_changed_in_the_metadata(prompts, pvc, tmp_path):
    _edit_offer(prompts)
    (prompts / "prompts" / "support.md").write_text(
        "---\nmodel: gpt-4o-mini\ntemperature: 0.5\nlabel: new\n---\nHello {{name}}!\n{{> sig}}\n")
    r = pvc("diff")
    lines = r.stdout.splitlines()
    assert lines[:5] == ["metadata prompts/offer.j2",
                         "    model: gpt-4o -> gpt-4.1",
                         "    temperature: 0.2 -> 0.7",
                         "    input added: tone2",
                         "diff --git a/prompts/offer.j2 b/prompts/offer.j2"]
    i = lines.index("diff --git a/prompts/support.md b/prompts/support.md")
    assert lines[i - 2:i] == ["metadata prompts/support.md", "    label added: new"]
    if shutil.which("git"):  # the annotated diff still applies
        work = tmp_path / "g"
        (work / "prompts").mkdir(parents=True)
        for name in ("offer.j2", "support.md"):
            (work / "prompts" / name).write_bytes(pvc("show", f"v1:prompts/{name}").stdout_bytes)
        subprocess.run(["git", "init", "-q"], cwd=work, check=True)
        done = subprocess.run(["git", "apply", "-"], cwd=work, input=r.stdout_bytes,
                              capture_output=True)
        assert done.returncode == 0, done.stderr
        assert (work / "prompts" / "offer.j2").read_bytes() == \
            (prompts / "prompts" / "offer.j2").read_bytes()
    data = json.loads(pvc("diff", "--json").stdout)
    assert [(f["path"], f["status"], f["metadata"]) for f in data] == [
        ("prompts/offer.j2", "M", ["model: gpt-4o -> gpt-4.1", "temperature: 0.2 -> 0.7",
                                   "input added: tone2"]),
        ("prompts/support.md", "M", ["label added: new"])]
    assert data[0]["diff"].startswith("diff --git a/prompts/offer.j2 b/prompts/offer.j2\n")
    assert pvc("commit", "-m", "tune offer").exit_code == 0
    r = pvc("log", "-p", "-n", "1")
    assert "\n    tune offer\n\nmetadata prompts/offer.j2\n    model: gpt-4o -> gpt-4.1\n" in \
        r.stdout
    data = json.loads(pvc("log", "-p", "-n", "1", "--json").stdout)
    assert data[0]["patch"][0]["metadata"] == ["model: gpt-4o -> gpt-4.1",
                                               "temperature: 0.2 -> 0.7", "input added: tone2"]


def test_log_follow_includes(prompts, pvc):
    (prompts / "prompts" / "footer.j2").write_text("New footer\n")
    assert pvc("commit", "-m", "footer only").exit_code == 0
    (prompts / "prompts" / "greeting.prompt").write_text(GREETING.replace("0.9", "0.8"))
    assert pvc("commit", "-m", "greeting only").exit_code == 0
    plain = pvc("log", "--oneline", "--", "prompts/offer.j2").stdout
    assert [l.split(" ", 1)[1] for l in plain.splitlines()] == ["(tag: v1) prompts"]
    r = pvc("log", "--oneline", "--follow-includes", "--", "prompts/offer.j2")
    assert [l.split(" ", 1)[1] for l in r.stdout.splitlines()] == \
        ["footer only", "(tag: v1) prompts"]
    r = pvc("log", "--follow-includes")
    assert r.exit_code == 2 and "--follow-includes takes exactly one PATH" in r.stderr


def test_check_on_commit(prompts, pvc):
    (prompts / "prompts" / "support.md").write_text("<<<<<<< ours\nx\n")
    assert pvc("commit", "-m", "unchecked").exit_code == 0  # off by default
    (prompts / "prompts" / "support.md").write_text("<<<<<<< ours\ny\n")
    assert pvc("config", "check.on_commit", "true").exit_code == 0
    r = pvc("commit", "-m", "checked")
    assert r.exit_code == 1
    assert r.stderr == ("prompts/support.md:1: leftover conflict marker '<<<<<<<'\n"
                        "error: pvc check found 1 problem; nothing was committed\n"
                        "hint: fix them, or commit anyway with `pvc commit --no-check`\n")
    assert pvc("status", "--short").stdout == " M prompts/support.md\n"
    assert pvc("commit", "--no-check", "-m", "anyway").exit_code == 0
    assert pvc("config", "check.on_commit", "maybe").exit_code == 1  # refused when set
    cfg = prompts / ".pvc" / "config"  # and when read from the file
    cfg.write_text(cfg.read_text().replace("on_commit = true", "on_commit = maybe"))
    (prompts / "prompts" / "support.md").write_text("fine\n")
    r = pvc("commit", "-m", "x")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: config value check.on_commit = 'maybe' in ")
    assert r.stderr.endswith(" is not true or false\nhint: set it with "
                             "`pvc config check.on_commit true` (or false)\n")


def test_stored_bytes_never_change(prompts, pvc):
    """Rendering, checking and showing metadata read the committed bytes and change none."""
    before = {p.name: p.read_bytes() for p in (prompts / "prompts").iterdir()}
    for name in before:
        pvc("render", f"HEAD:prompts/{name}", "-v", "name=A", "-v", "team=T", "-v", "question=Q")
        pvc("show", "--meta", f"HEAD:prompts/{name}")
    pvc("check")
    for name, data in before.items():
        assert pvc("show", f"HEAD:prompts/{name}").stdout_bytes == data
        assert (prompts / "prompts" / name).read_bytes() == data


@pytest.mark.sqld
def test_render_from_a_branch_database(tmp_path, pvc, monkeypatch, server):
    """An experiment arm served from its own branch database renders with the includes of
    that branch's commit; the main database keeps its own."""
    url = f"http://localhost:{server.http_port}"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    pvc("init")
    (work / "offer.j2").write_text("Hi {{ name }}.\n{% include 'footer.j2' %}")
    (work / "footer.j2").write_text("control footer\n")
    pvc("add", "offer.j2", "footer.j2")
    pvc("commit", "-m", "control")
    pvc("tag", "production")
    pvc("remote", "add", "origin", url, "--admin-url", server.admin_url)
    assert pvc("push", "--tags").exit_code == 0
    assert pvc("branch", "exp-b").exit_code == 0
    pvc("switch", "exp-b")
    (work / "footer.j2").write_text("arm B footer\n")
    pvc("commit", "-m", "arm b footer")
    assert pvc("push").exit_code == 0
    pvc("switch", "main")
    assert pvc("experiment", "create", "foot", "--arm", "control=main",
               "--arm", "b=exp-b").exit_code == 0
    src = PromptSource.remote(url, cache_dir=tmp_path / "cache", background=False)
    try:
        assert src.render("offer.j2", name="Ada") == "Hi Ada.\ncontrol footer\n"
        seen = {src.render("offer.j2", experiment="foot", unit=f"u{u}", name="Ada")
                for u in range(20)}
        assert seen == {"Hi Ada.\ncontrol footer\n", "Hi Ada.\narm B footer\n"}
    finally:
        src.close()
