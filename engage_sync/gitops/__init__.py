"""The team's GitOps loop in CI: plan on pull requests, apply on merge, drift every day.

github.py   the few GitHub REST calls the loop makes (comments, a commit's pull requests,
            a run's artifact)
git.py      the history since the last apply, the state commit pushed onto whatever main has
            become, and a rescue branch when it cannot be
reviews.py  the change sets reviewed on the pull requests merged since the last apply
install_lock.py  the hashed lock the workflows install engage-sync from (`engage-sync lock`)
pip.py      its pip runs: for which Python and platform, from where, failures without secrets

`engage-sync ci plan|apply|drift` (cli/ci.py) drive them; the workflows call those commands.
"""
