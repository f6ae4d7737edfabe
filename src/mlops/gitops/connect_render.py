"""Connect this GitHub repository to a Render service, so that every merge to main deploys.

    make connect-render          (python -m mlops.gitops.connect_render)

With the GitHub CLI (`gh`, logged in) and a Render API key you paste (or RENDER_API_KEY), it:

1. points render.yaml at this repository's image, ghcr.io/<owner>/<repo>:latest; when GHCR
   refuses an anonymous pull (a new package is private) it creates registry credentials in
   Render from a read:packages token and names them in render.yaml (one commit, through `gh`);
2. waits for the service the Blueprint creates (it prints the Deploy-to-Render link), and
   points an existing service at that image and those credentials;
3. reads the service's API_KEY (render.yaml generates one) and its URL, asks for the deploy
   hook (Render's API does not return it), and sets the RENDER_DEPLOY_HOOK_URL,
   RENDER_SERVICE_URL and API_KEY secrets with `gh secret set` (values on stdin, never argv);
4. calls the hook, waits until the service is ready, smoke-tests /predict with the key, and
   prints which integrations are now on.

Nothing secret is printed or written to disk. Standard library only (like mlops.gitops.deploy).
See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops.gitops import integrations
from mlops.gitops.deploy import DeployError, Target, smoke_predict
from mlops.gitops.probe import Answer, request

RENDER_API = "https://api.render.com/v1"
REGISTRY = "https://ghcr.io"
BLUEPRINT = Path("render.yaml")
SECRETS = ("RENDER_DEPLOY_HOOK_URL", "RENDER_SERVICE_URL", "API_KEY")
MANIFESTS = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class ConnectError(RuntimeError):
    """A step failed; the message says which and what to do, never a secret."""


# --- render.yaml --------------------------------------------------------------------------------


def blueprint_service_name(text: str) -> str:
    """The name of the (first) service render.yaml declares."""
    match = re.search(r"^services:\s*\n(?:\s*#.*\n)*\s*-\s+(?:type:.*\n\s+)?name:\s*['\"]?([\w.-]+)", text, re.M)
    if not match:
        raise ConnectError("render.yaml: no service name found under `services:`")
    return match.group(1)


def with_image(text: str, url: str, credentials: str | None) -> str:
    """render.yaml with the service's `image.url` set to `url`, and `image.creds` naming the
    registry credentials `credentials` (or no `creds`, for a public image). Comments stay."""
    match = re.search(r"^(?P<indent>[ \t]+)url:[ \t]*\S+[^\n]*\n", text, re.M)
    block = re.search(r"^([ \t]+)image:[ \t]*\n", text, re.M)
    if not (match and block and block.end() <= match.start()):
        raise ConnectError("render.yaml: no `image:` block with a `url:` line")
    indent = match.group("indent")
    lines = [f"{indent}url: {url}\n"]
    if credentials:
        lines += [f"{indent}creds:\n", f"{indent}  fromRegistryCreds:\n", f"{indent}    name: {credentials}\n"]
    rest = text[match.end() :]
    existing = re.match(rf"{indent}creds:[ \t]*\n(?:{indent}[ \t]+\S[^\n]*\n)*", rest)
    if existing:
        rest = rest[existing.end() :]
    return text[: match.start()] + "".join(lines) + rest


def deploy_link(repository_url: str) -> str:
    """Render's Deploy-to-Render link: it opens the Blueprint of this repository's render.yaml."""
    return "https://render.com/deploy?" + urllib.parse.urlencode({"repo": repository_url})


def hook_service_id(hook_url: str) -> str:
    """The service a deploy hook deploys (https://api.render.com/deploy/srv-...?key=...)."""
    parts = urllib.parse.urlsplit(hook_url.strip())
    match = re.fullmatch(r".*/deploy/(srv-[a-z0-9]+)", parts.path)
    if parts.scheme not in ("http", "https") or not match or "key" not in urllib.parse.parse_qs(parts.query):
        raise ConnectError(
            "that is not a deploy hook URL (https://api.render.com/deploy/srv-...?key=...; value not shown)"
        )
    return match.group(1)


# --- GitHub, through the gh CLI -----------------------------------------------------------------


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    url: str
    branch: str

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def image(self) -> str:
        """The image CI pushes (GHCR names are lowercase)."""
        return f"ghcr.io/{self.slug.lower()}"


class GitHub:
    """The few `gh` calls this needs. Secret values go through stdin, never the command line."""

    def __init__(self, executable: str = "gh"):
        self.executable = executable

    def run(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                [self.executable, *args], input=stdin, capture_output=True, text=True, check=False, timeout=120
            )
        except FileNotFoundError:
            raise ConnectError("the GitHub CLI is not installed: https://cli.github.com") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConnectError(f"`gh {' '.join(args[:2])}` failed: {last}")
        return done.stdout

    def check_login(self) -> None:
        try:
            self.run("auth", "status")
        except ConnectError as error:
            raise ConnectError(f"the GitHub CLI is not logged in: run `gh auth login` ({error})") from None

    def repository(self) -> Repository:
        info = json.loads(self.run("repo", "view", "--json", "nameWithOwner,url,defaultBranchRef"))
        owner, name = info["nameWithOwner"].split("/", 1)
        return Repository(owner, name, info["url"], (info.get("defaultBranchRef") or {}).get("name") or "main")

    def login(self) -> str:
        return self.run("api", "user", "--jq", ".login").strip()

    def read_file(self, repo: Repository, path: str) -> tuple[str, str]:
        """A file's text and blob sha on the default branch."""
        info = json.loads(self.run("api", f"repos/{repo.slug}/contents/{path}?ref={repo.branch}"))
        return base64.b64decode(info["content"]).decode(), info["sha"]

    def write_file(self, repo: Repository, path: str, text: str, sha: str, message: str) -> str:
        """Commit `text` as `path` on the default branch; return the new commit's sha."""
        content = base64.b64encode(text.encode()).decode()
        body = json.dumps({"message": message, "content": content, "sha": sha, "branch": repo.branch})
        answer = self.run("api", "--method", "PUT", f"repos/{repo.slug}/contents/{path}", "--input", "-", stdin=body)
        return json.loads(answer)["commit"]["sha"]

    def set_secret(self, repo: Repository, name: str, value: str) -> None:
        self.run("secret", "set", name, "--repo", repo.slug, stdin=value)

    def secret_names(self, repo: Repository) -> set[str]:
        return {item["name"] for item in json.loads(self.run("secret", "list", "--repo", repo.slug, "--json", "name"))}


# --- Render's REST API --------------------------------------------------------------------------


class Render:
    """The Render API calls this needs (https://api-docs.render.com), with the key the user gave."""

    def __init__(self, key: str, base: str = RENDER_API):
        self.key, self.base = key, base.rstrip("/")

    def call(self, method: str, path: str, query: dict | None = None, body: object = None) -> object:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(query, doseq=True)}" if query else "")
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        answer = request(url, method=method, data=data, headers=headers, timeout=30)
        if answer.status is not None and 200 <= answer.status < 300:
            return answer.json()
        raise ConnectError(f"Render API {method} {path}: {_render_problem(answer)}")

    def owners(self) -> list[dict]:
        return [item["owner"] for item in self.call("GET", "/owners", {"limit": 100})]

    def services(self, name: str) -> list[dict]:
        found = self.call("GET", "/services", {"name": name, "type": "web_service", "limit": 100})
        return [item["service"] for item in found]

    def credentials(self, owner_id: str, name: str) -> list[dict]:
        return self.call("GET", "/registrycredentials", {"ownerId": owner_id, "name": name, "limit": 100})

    def create_credentials(self, owner_id: str, name: str, username: str, token: str) -> dict:
        body = {"registry": "GITHUB", "name": name, "username": username, "authToken": token, "ownerId": owner_id}
        return self.call("POST", "/registrycredentials", body=body)

    def set_image(self, service: dict, image: str, credentials_id: str | None) -> dict:
        spec = {"ownerId": service["ownerId"], "imagePath": image}
        if credentials_id:
            spec["registryCredentialId"] = credentials_id
        return self.call("PATCH", f"/services/{service['id']}", body={"image": spec})

    def env_vars(self, service_id: str) -> dict[str, str]:
        found = self.call("GET", f"/services/{service_id}/env-vars")
        return {item["envVar"]["key"]: item["envVar"]["value"] for item in found}

    def set_env_var(self, service_id: str, key: str, value: str) -> None:
        self.call("PUT", f"/services/{service_id}/env-vars/{key}", body={"value": value})


def _render_problem(answer: Answer) -> str:
    if answer.status is None:
        return f"no answer ({answer.error})"
    if answer.status == 401:
        return "HTTP 401: the API key was refused (create one: Render → Account Settings → API Keys)"
    body = answer.json()
    message = body.get("message") if isinstance(body, dict) else None
    return f"HTTP {answer.status}" + (f": {message}" if message else "")


# --- GHCR -----------------------------------------------------------------------------------------


def anonymous_pull_allowed(image: str, registry: str = REGISTRY) -> bool:
    """Whether GHCR serves `image`:latest without credentials (a public package)."""
    path = image.removeprefix("ghcr.io/")
    token = request(f"{registry}/token?" + urllib.parse.urlencode({"scope": f"repository:{path}:pull"}), timeout=15)
    value = token.json().get("token") if token.status == 200 and isinstance(token.json(), dict) else None
    if not value:
        return False
    headers = {"Authorization": f"Bearer {value}", "Accept": MANIFESTS}
    return request(f"{registry}/v2/{path}/manifests/latest", method="HEAD", headers=headers, timeout=15).status == 200


# --- the steps ----------------------------------------------------------------------------------


@dataclass
class Options:
    workspace: str | None = None
    wait: float = 900  # seconds to wait for the Blueprint's service
    ready_timeout: float = 900  # seconds to wait for the service to answer after the hook
    interval: float = 5
    render_api: str = RENDER_API
    registry: str = REGISTRY


@dataclass
class Prompts:
    """Where secrets come from: the environment, else a prompt that does not echo."""

    ask: Callable[[str], str] = getpass.getpass

    def secret(self, variable: str, question: str) -> str:
        value = os.environ.get(variable, "").strip()
        if not value:
            try:
                value = self.ask(question).strip()
            except EOFError:  # no terminal and nothing on stdin
                value = ""
        if not value:
            raise ConnectError(f"no value given for {variable}")
        return value


def credentials_name(repo: Repository) -> str:
    """One set of credentials per GitHub account: a read:packages token reads all its packages."""
    return f"ghcr-{repo.owner.lower()}"


def registry_access(
    repo: Repository, render: Render, gh: GitHub, owner_id: str, prompts: Prompts, options: Options, say
) -> dict | None:
    """None when GHCR serves the image anonymously; else Render's credentials for it (made if missing)."""
    if anonymous_pull_allowed(repo.image, options.registry):
        say(f"{repo.image}:latest is public: Render pulls it without credentials")
        return None
    name = credentials_name(repo)
    existing = render.credentials(owner_id, name)
    if existing:
        say(f"{repo.image} is private (or not pushed yet): Render pulls it with its credentials `{name}`")
        return existing[0]
    say(f"{repo.image} is private (or not pushed yet): Render needs a token to pull it.")
    link = "https://github.com/settings/tokens/new?" + urllib.parse.urlencode(
        {"scopes": "read:packages", "description": f"Render pulls {repo.image}"}
    )
    say(f"  create a classic token with only read:packages: {link}")
    token = prompts.secret("GHCR_TOKEN", "GitHub token (read:packages) for Render to pull the image: ")
    created = render.create_credentials(owner_id, name, gh.login(), token)
    say(f"created Render registry credentials `{name}` (GitHub, user {created.get('username', '?')})")
    return created


def workspace_id(render: Render, services: list[dict], wanted: str | None) -> str:
    """The workspace to work in: the one named, else the existing service's, else the only one."""
    if services and not wanted:
        return services[0]["ownerId"]
    owners = render.owners()
    if wanted:
        match = [owner for owner in owners if wanted in (owner["id"], owner.get("name"), owner.get("email"))]
        if not match:
            raise ConnectError(f"no Render workspace {wanted!r}; yours: {', '.join(o['name'] for o in owners)}")
        return match[0]["id"]
    if len(owners) != 1:
        names = ", ".join(f"{owner['name']} ({owner['id']})" for owner in owners) or "none"
        raise ConnectError(f"pick a Render workspace: make connect-render WORKSPACE=<name or id> (yours: {names})")
    return owners[0]["id"]


def point_blueprint(repo: Repository, gh: GitHub, credentials: dict | None, say) -> None:
    """Commit render.yaml on the default branch when it does not name this image (and credentials)."""
    text, sha = gh.read_file(repo, str(BLUEPRINT))
    wanted = with_image(text, f"{repo.image}:latest", credentials["name"] if credentials else None)
    if wanted == text:
        say(f"render.yaml already runs {repo.image}:latest")
        return
    message = f"render.yaml: run {repo.image}:latest (make connect-render)"
    commit = gh.write_file(repo, str(BLUEPRINT), wanted, sha, message)
    say(f"committed render.yaml on {repo.branch} ({commit[:12]}): it runs {repo.image}:latest; `git pull` to get it")


def wait_for_service(
    render: Render, name: str, owner_id: str, repo: Repository, options: Options, say, sleep=time.sleep
) -> dict:
    say(f"no Render service `{name}` yet. Create it from the Blueprint (Render asks nothing; press Deploy Blueprint):")
    say(f"  {deploy_link(repo.url)}")
    deadline, last_said = time.monotonic() + options.wait, 0.0
    while True:
        found = [service for service in render.services(name) if service["ownerId"] == owner_id]
        if found:
            return found[0]
        if time.monotonic() >= deadline:
            raise ConnectError(
                f"no service `{name}` after {options.wait:.0f} s: apply the Blueprint, then run this again"
            )
        if time.monotonic() - last_said >= 30:
            say(f"waiting for service `{name}` to appear in Render ...")
            last_said = time.monotonic()
        sleep(options.interval)


def point_service(render: Render, service: dict, repo: Repository, credentials: dict | None, say) -> None:
    """A service made before render.yaml named this image (or its credentials) gets both now."""
    current = (service.get("imagePath") or "").rsplit(":", 1)[0].split("@", 1)[0]
    current_credentials = (service.get("registryCredential") or {}).get("id")
    wanted_credentials = credentials["id"] if credentials else None
    if current == repo.image and current_credentials == wanted_credentials:
        return
    render.set_image(service, f"{repo.image}:latest", wanted_credentials)
    say(f"pointed service `{service['name']}` at {repo.image}:latest")


def api_key_for(render: Render, service: dict, say) -> str:
    """The service's API_KEY (render.yaml generates one); one is made and set when it has none."""
    value = render.env_vars(service["id"]).get("API_KEY", "").strip()
    if value:
        return value
    value = secrets.token_urlsafe(32)
    render.set_env_var(service["id"], "API_KEY", value)
    say("the service had no API_KEY: set a new random one in Render")
    return value


def verify(target: Target, options: Options, say, sleep=time.sleep) -> dict:
    """Call the hook (it deploys the service's image), wait until /ready, smoke-test /predict."""
    answer = request(target.hook_url, method="POST", data=b"", timeout=30)
    if answer.status is None or not 200 <= answer.status < 300:
        seen = answer.error or f"HTTP {answer.status}"
        raise ConnectError(f"the deploy hook refused the deploy ({seen}): copy it from Render again")
    say("the deploy hook answered: Render is deploying the image (a free service can take a few minutes)")
    deadline, last = time.monotonic() + options.ready_timeout, "no answer yet"
    while True:
        ready = request(f"{target.service_url}/ready", timeout=15)
        if ready.status == 200:
            break
        last = ready.error or f"HTTP {ready.status}"
        if time.monotonic() >= deadline:
            waited = f"{options.ready_timeout:.0f} s"
            raise ConnectError(f"{target.service_url}/ready did not answer 200 within {waited} (last: {last})")
        say(f"waiting for {target.service_url}/ready ({last})")
        sleep(options.interval)
    metadata = request(f"{target.service_url}/metadata", timeout=15).json()
    if not isinstance(metadata, dict):
        raise ConnectError(f"{target.service_url}/metadata did not answer JSON")
    try:
        prediction = smoke_predict(target, metadata)
    except DeployError as error:
        raise ConnectError(str(error)) from None
    commit = str(metadata.get("commit"))[:12]
    say(f"{target.service_url} is live at commit {commit}; /predict with the key answered {prediction!r}")
    return metadata


def connect(gh: GitHub, render_key: str, prompts: Prompts, options: Options, say: Callable[[str], None]) -> str:
    """Every step; returns the integrations summary for the repository's secrets now."""
    gh.check_login()
    repo = gh.repository()
    say(f"repository {repo.slug} (default branch {repo.branch}), image {repo.image}")
    render = Render(render_key, options.render_api)
    name = blueprint_service_name(BLUEPRINT.read_text(encoding="utf-8"))
    services = render.services(name)
    owner_id = workspace_id(render, services, options.workspace)
    services = [found for found in services if found["ownerId"] == owner_id]  # same name, other workspace
    credentials = registry_access(repo, render, gh, owner_id, prompts, options, say)
    point_blueprint(repo, gh, credentials, say)
    service = services[0] if services else wait_for_service(render, name, owner_id, repo, options, say)
    point_service(render, service, repo, credentials, say)
    service_url = ((service.get("serviceDetails") or {}).get("url") or "").rstrip("/")
    if not service_url.startswith("https://") and not service_url.startswith("http://"):
        raise ConnectError(f"Render did not return a URL for service `{name}`")
    key = api_key_for(render, service, say)
    settings = f"{service.get('dashboardUrl', 'https://dashboard.render.com')}/settings"
    say(f"copy the service's Deploy Hook from {settings} (Deploy Hook section)")
    hook = prompts.secret("RENDER_DEPLOY_HOOK_URL", "Render deploy hook URL: ")
    if hook_service_id(hook) != service["id"]:
        raise ConnectError(f"that deploy hook belongs to another service, not `{name}` ({service['id']})")
    for secret, value in zip(SECRETS, (hook, service_url, key), strict=True):
        gh.set_secret(repo, secret, value)
    say(f"set the GitHub secrets {', '.join(SECRETS)} on {repo.slug}")
    verify(Target(hook, service_url, key), options, say)
    present = dict.fromkeys(gh.secret_names(repo), "set")
    return integrations.summary(integrations.integrations(present, integrations.default_remote_url()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=os.environ.get("WORKSPACE") or None, help="Render workspace name or id")
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for the Blueprint's service")
    parser.add_argument("--ready-timeout", type=float, default=900, help="seconds to wait for the service to be ready")
    parser.add_argument("--interval", type=float, default=5, help="seconds between polls")
    parser.add_argument("--render-api", default=RENDER_API, help=argparse.SUPPRESS)  # tests: a fake Render
    parser.add_argument("--registry", default=REGISTRY, help=argparse.SUPPRESS)  # tests: a fake GHCR
    args = parser.parse_args(argv)
    options = Options(args.workspace, args.wait, args.ready_timeout, args.interval, args.render_api, args.registry)

    def say(message: str) -> None:
        print(f"[connect-render] {message}", flush=True)

    prompts = Prompts()
    try:
        if not os.environ.get("RENDER_API_KEY"):
            say("paste a Render API key (Account Settings → API Keys → Create API Key); used here, never stored")
        key = prompts.secret("RENDER_API_KEY", "Render API key: ")
        summary = connect(GitHub(), key, prompts, options, say)
    except ConnectError as error:
        say(f"error: {error}")
        say("docs/deploy.md, 'When a step fails', says what to do; then run make connect-render again")
        return 1
    except KeyboardInterrupt:
        say("stopped; run make connect-render again to pick up where it left off")
        return 130
    say("done. Every merge to main now deploys the image CI tested, and verifies it live:")
    print(summary, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
