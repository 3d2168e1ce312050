"""publish() against a real bare remote: history on gh-pages, the user's checkout untouched, clear errors."""
import shutil
import subprocess

import pytest

from reportgen.site.publish import PublishError, publish


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def quiet_git(monkeypatch, tmp_path):
    """No global or system git config, a fixed identity, and no looking above tmp_path for a repo."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.org")


@pytest.fixture
def repo(tmp_path):
    """A repo on `main` with one commit, a staged and an unstaged change, an ignored site/ and a bare origin."""
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", "work")
    (work / ".gitignore").write_text("site/\n")
    (work / "notes.txt").write_text("one\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "start")
    git(work, "remote", "add", "origin", str(tmp_path / "remote.git"))
    (work / "notes.txt").write_text("two\n")
    (work / "staged.txt").write_text("staged\n")
    git(work, "add", "staged.txt")
    (work / "site" / "exp").mkdir(parents=True)
    (work / "site" / "index.html").write_text("<h1>v1</h1>")
    (work / "site" / "exp" / "index.html").write_text("<p>exp</p>")
    (work / "site" / "old.gif").write_bytes(b"GIF89a")
    return work


def checkout_state(work):
    """Everything publishing must not change: branch, HEAD, index, working tree."""
    return [git(work, "symbolic-ref", "HEAD"), git(work, "rev-parse", "HEAD"), git(work, "ls-files", "-s"),
            git(work, "status", "--porcelain", "--ignored"), git(work, "diff")]


def test_publish_twice_keeps_history_and_leaves_the_checkout_alone(repo, tmp_path):
    before = checkout_state(repo)
    first = publish(repo / "site", repo)
    (repo / "site" / "index.html").write_text("<h1>v2</h1>")
    (repo / "site" / "old.gif").unlink()
    second = publish(repo / "site", repo, message="second")
    assert checkout_state(repo) == before
    assert git(repo, "rev-parse", "gh-pages") == second
    git(tmp_path, "clone", "-q", "--branch", "gh-pages", "--single-branch", "remote.git", "clone")
    clone = tmp_path / "clone"
    assert sorted(git(clone, "ls-files").split()) == [".nojekyll", "exp/index.html", "index.html"]
    assert (clone / "index.html").read_text() == "<h1>v2</h1>"
    head = git(repo, "rev-parse", "--short", "HEAD")
    assert git(clone, "log", "--format=%H %s").splitlines() == [f"{second} second", f"{first} Publish site from {head}"]


def test_publishing_nothing_new_makes_no_commit(repo, tmp_path):
    assert publish(repo / "site", repo) == publish(repo / "site", repo)
    assert git(tmp_path / "remote.git", "rev-list", "--count", "gh-pages") == "1"


def test_publish_without_push_stays_local(repo, tmp_path):
    commit = publish(repo / "site", repo, remote=None)
    assert git(repo, "rev-parse", "gh-pages") == commit
    assert git(tmp_path / "remote.git", "branch") == ""


def test_publish_builds_on_the_remote_branch_of_a_fresh_clone(repo, tmp_path):
    first = publish(repo / "site", repo)
    git(tmp_path, "clone", "-q", "remote.git", "other")
    (tmp_path / "site2").mkdir()
    (tmp_path / "site2" / "index.html").write_text("<h1>from elsewhere</h1>")
    git(tmp_path / "other", "fetch", "-q", "origin", "gh-pages")  # a clone knows origin/gh-pages, no local branch
    second = publish(tmp_path / "site2", tmp_path / "other")
    assert git(tmp_path / "remote.git", "rev-parse", "gh-pages^") == first
    assert git(tmp_path / "remote.git", "rev-parse", "gh-pages") == second


def test_rejected_push_is_one_clear_line_and_moves_nothing(repo, tmp_path):
    first = publish(repo / "site", repo)
    git(tmp_path, "clone", "-q", "--branch", "gh-pages", "remote.git", "rival")
    git(tmp_path / "rival", "commit", "-q", "--allow-empty", "-m", "rival")
    git(tmp_path / "rival", "push", "-q", "origin", "gh-pages")
    (repo / "site" / "index.html").write_text("<h1>v2</h1>")
    with pytest.raises(PublishError, match=r"^push to origin rejected: \[rejected\].*git fetch") as error:
        publish(repo / "site", repo)
    assert "\n" not in str(error.value)
    assert git(repo, "rev-parse", "gh-pages") == first
    git(repo, "fetch", "-q", "origin", "+gh-pages:gh-pages")  # what the message says to do
    assert git(repo, "rev-parse", f"{publish(repo / 'site', repo)}^") == git(tmp_path / "rival", "rev-parse", "HEAD")


@pytest.mark.parametrize("breakage, match", [
    (lambda work: (work / "site").rename(work / "gone"), r"^nothing to publish: .*site is missing or empty"),
    (lambda work: shutil.rmtree(work / "site") or (work / "site").mkdir(), r"^nothing to publish: "),
    (lambda work: shutil.rmtree(work / ".git"), r"^not a git repository: .*work$"),
    (lambda work: git(work, "checkout", "-q", "-b", "gh-pages"), r"^gh-pages is the checked-out branch"),
    (lambda work: git(work, "remote", "remove", "origin"), r"^push to origin failed: fatal: 'origin' does not"),
])
def test_errors_are_one_clear_line(repo, breakage, match):
    breakage(repo)
    with pytest.raises(PublishError, match=match) as error:
        publish(repo / "site", repo)
    assert "\n" not in str(error.value)


def test_the_publish_command(repo, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from reportgen.cli import main
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["publish", "-m", "From the command line"])
    assert result.exit_code == 0, result.output
    assert result.output == f"gh-pages is at {git(repo, 'rev-parse', 'gh-pages')[:10]}, pushed to origin\n"
    assert git(tmp_path / "remote.git", "log", "--format=%s", "gh-pages") == "From the command line"
    git(repo, "remote", "remove", "origin")
    result = CliRunner().invoke(main, ["publish"])
    assert result.exit_code == 1 and result.output.startswith("error: push to origin failed: fatal: 'origin'")
