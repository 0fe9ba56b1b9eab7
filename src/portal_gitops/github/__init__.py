"""portal-gitops on GitHub: the pull-request workflow's calls to GitHub, kept in code tests run.

Each workflow step is one ``portal-gitops github ...`` command (cli.py); these modules read the
environment GitHub Actions documents, talk to ``GITHUB_API_URL`` and call the commands layer.

- ``context``: the run's environment and event payload (which PR, a fork or not).
- ``api``: the few REST endpoints used, over httpx.
- ``comment``: the plan comment, failure report and annotations (pure).
- ``flows``: what each workflow does (plan a PR, apply the reviewed plan, requests to PRs, ...).
"""
