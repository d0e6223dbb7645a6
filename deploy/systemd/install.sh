#!/bin/sh
# callscope on a bare-metal host with systemd (docs/deployment.md, "systemd step by step"):
# the user, every folder the units use, the virtual environment, the settings, the secrets
# and the units. Run as root from the project's folder; running it again changes nothing that
# is already there (settings and secrets are never overwritten).
#   sudo sh deploy/systemd/install.sh
# Then mount the NAS at /srv/callscope/data, edit /etc/callscope/env and enable the units.
set -eu

PYTHON=${PYTHON:-python3.11}
VENV=/opt/callscope/venv
HERE=$(dirname "$0")
SECRETS="prefect_db_password callscope_secret_key callscope_shard_token"

# the user and group the units run as (home: the state folder)
getent passwd callscope >/dev/null ||
    useradd --system --user-group --home-dir /var/lib/callscope --shell /usr/sbin/nologin callscope

# /etc/callscope, /etc/callscope/secrets, /var/lib/callscope(/search), /srv/callscope/data, ...
install -m 644 "$HERE/callscope.tmpfiles.conf" /etc/tmpfiles.d/callscope.conf
systemd-tmpfiles --create /etc/tmpfiles.d/callscope.conf

# the program: PyPI's packages at the project's pins (torch's CUDA build on a GPU host)
install -d -m 755 /opt/callscope
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
sed -e 's/^torch==\(.*\)+cpu$/torch==\1/' constraints.txt >"$VENV/constraints.txt"
"$VENV/bin/pip" install -q -c "$VENV/constraints.txt" .

# the settings: configs/gpu.yaml, the rule categories it reads next to it (the quality team's
# file) and the host's environment file (edit them afterwards)
[ -e /etc/callscope/config.yaml ] ||
    install -m 640 -o root -g callscope configs/gpu.yaml /etc/callscope/config.yaml
[ -e /etc/callscope/categories.yaml ] ||
    install -m 640 -o root -g callscope configs/categories.yaml /etc/callscope/categories.yaml
[ -e /etc/callscope/env ] ||
    install -m 640 -o root -g callscope "$HERE/callscope.env" /etc/callscope/env

# one random secret a file, readable by root only: systemd hands them to the units
for name in $SECRETS; do
    [ -s "/etc/callscope/secrets/$name" ] ||
        "$PYTHON" -c "import secrets; print(secrets.token_urlsafe(48), end='')" |
        install -m 600 /dev/stdin "/etc/callscope/secrets/$name"
done

for unit in prefect-server.service callscope-worker@.service callscope-nightly.service \
    callscope-night.service callscope-night.timer callscope-web.service \
    callscope-doctor.service; do
    install -m 644 "$HERE/$unit" "/etc/systemd/system/$unit"
done
systemctl daemon-reload
echo "installed; next: mount the NAS at /srv/callscope/data, edit /etc/callscope/env, then"
echo "  systemctl start callscope-doctor; journalctl -u callscope-doctor -o cat -n 40"
