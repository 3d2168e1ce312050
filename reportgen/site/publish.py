"""Commit a built site as the root of a gh-pages branch with git plumbing, leaving the user's checkout alone."""
import os
import subprocess
import tempfile
from pathlib import Path


class PublishError(Exception):
    """Publishing failed; the message is one line saying why."""


def publish(site: Path, repo: Path = Path("."), branch: str = "gh-pages", remote: str | None = "origin",
            message: str | None = None, push: bool = True) -> str:
    """Commit the contents of `site` on top of `branch` (pushed to `remote` if asked); return the commit sha."""
    site = Path(site).resolve()
    if not site.is_dir() or not any(site.iterdir()):
        raise PublishError(f"nothing to publish: {site} is missing or empty (run `reportgen build` first)")
    git_dir = _git_dir(Path(repo))
    ref = f"refs/heads/{branch}"
    if _git(git_dir, "symbolic-ref", "-q", "HEAD", check=False) == ref:
        raise PublishError(f"{branch} is the checked-out branch; switch to another branch to publish")
    local = _tip(git_dir, ref)
    parent = local or (remote and _tip(git_dir, f"refs/remotes/{remote}/{branch}"))
    tree = _tree(git_dir, site)
    if parent and _git(git_dir, "rev-parse", f"{parent}^{{tree}}") == tree:
        commit = parent  # nothing changed since the last publish: no empty commit
    else:
        commit = _git(git_dir, "commit-tree", tree, *(["-p", parent] if parent else []),
                      "-m", message or _message(git_dir))
    if push and remote:
        # push before moving the local branch, so a rejected push leaves both sides as they were
        _push(git_dir, remote, commit, ref)
    # the old value makes the move atomic: it fails if something else moved the branch meanwhile
    _git(git_dir, "update-ref", "-m", "reportgen publish", ref, commit, local)
    return commit


def _git(git_dir, *args, cwd=None, env=None, input=None, check=True):
    """Run git on `git_dir`; its stdout stripped, or PublishError with git's own reason."""
    done = subprocess.run(["git", f"--git-dir={git_dir}", *args], cwd=cwd, env=env, input=input,
                          capture_output=True, text=True)
    if check and done.returncode:
        raise PublishError(f"git {args[0]} failed: {_reason(done.stderr)}")
    return done.stdout.strip()


def _reason(stderr):
    """The line of git's stderr that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else "?")


def _git_dir(repo):
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--absolute-git-dir"],
                          capture_output=True, text=True)
    if done.returncode:
        raise PublishError(f"not a git repository: {Path(repo).resolve()}")
    return done.stdout.strip()


def _tip(git_dir, ref):
    return _git(git_dir, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)


def _tree(git_dir, site):
    """The tree of exactly the files in `site`, plus .nojekyll, built in a throwaway index."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        # --force: the published site is what was built, whatever the repo's .gitignore says
        _git(git_dir, f"--work-tree={site}", "add", "--all", "--force", ".", cwd=site, env=env)
        # an empty .nojekyll: its presence alone stops Pages from running Jekyll, which drops _folders
        blob = _git(git_dir, "hash-object", "-w", "--stdin", input="")
        _git(git_dir, "update-index", "--add", "--cacheinfo", f"100644,{blob},.nojekyll", env=env)
        return _git(git_dir, "write-tree", env=env)


def _message(git_dir):
    head = _git(git_dir, "rev-parse", "--short", "-q", "--verify", "HEAD", check=False)
    return f"Publish site from {head}" if head else "Publish site"


def _push(git_dir, remote, commit, ref):
    done = subprocess.run(["git", f"--git-dir={git_dir}", "push", "--porcelain", remote, f"{commit}:{ref}"],
                          capture_output=True, text=True)
    if not done.returncode:
        return
    refused = next((line.split("\t")[-1] for line in done.stdout.splitlines() if line.startswith("!")), None)
    if refused is None:
        raise PublishError(f"push to {remote} failed: {_reason(done.stderr)}")
    branch = ref.removeprefix("refs/heads/")
    hint = (f"; {remote}'s {branch} has commits this repo lacks: git fetch {remote} +{branch}:{branch}, "
            "then publish again") if refused.startswith("[rejected]") else ""
    raise PublishError(f"push to {remote} rejected: {refused}{hint}")
