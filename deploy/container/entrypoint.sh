#!/bin/bash
# Entry point of the scarf-gateway container image (deploy/container/).
#
# Starts the gateway on a Unix socket and nginx in front of it, both as the
# image's unprivileged user, and stays until one of them exits (then stops
# the other and exits with its status) or until SIGTERM/SIGINT (stops
# both).  SIGHUP is passed to the gateway (reload the manifest).
# Configured by the environment; README.md here lists the variables.
set -u

: "${PORT:=8080}"
: "${BIND:=0.0.0.0}"
: "${GATEWAY_MANIFEST:=/etc/scarf-gateway/manifest.json}"
: "${GATEWAY_LOG:=stdout}"
# more than nginx's 1 worker x keepalive 4 (deploy/nginx.conf)
: "${GATEWAY_THREADS:=16}"
: "${REAL_IP_FROM:=}"
: "${NGINX_ACCESS_LOG:=0}"
RUN=/tmp/scarf-gateway
SOCK=$RUN/gateway.sock
GATEWAY_LISTEN=unix:$SOCK
export GATEWAY_MANIFEST GATEWAY_LOG GATEWAY_THREADS GATEWAY_LISTEN

say() { printf 'entrypoint: %s\n' "$*" >&2; }

case $PORT in
''|*[!0-9]*) say "PORT must be a number: '$PORT'"; exit 2 ;;
esac
mkdir -p "$RUN" /tmp/nginx || exit 1

# The server: deploy/nginx.conf as shipped, pointed at the socket.
sed -e "s|@BIND@|$BIND|g" -e "s|@PORT@|$PORT|g" \
    -e "s|@UPSTREAM@|unix:$SOCK|g" \
    /etc/scarf-gateway/nginx-site.conf.in >/tmp/nginx/site.conf || exit 1

# Client IP: behind a load balancer or ingress, trust X-Forwarded-For from
# the networks in REAL_IP_FROM (comma-separated CIDRs); nginx then passes
# the client's address as REMOTE_ADDR, which the event log records.
: >/tmp/nginx/realip.conf
if [ -n "$REAL_IP_FROM" ]; then
	IFS=, read -r -a nets <<<"$REAL_IP_FROM"
	for net in "${nets[@]}"; do
		case $net in
		*[!0-9a-fA-F:./]*|'')
			say "REAL_IP_FROM: not an address or CIDR: '$net'"
			exit 2 ;;
		esac
		printf 'set_real_ip_from %s;\n' "$net"
	done >/tmp/nginx/realip.conf
	printf 'real_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n' \
	    >>/tmp/nginx/realip.conf
fi
if [ "$NGINX_ACCESS_LOG" = 1 ]; then
	echo 'access_log /dev/stderr;' >/tmp/nginx/accesslog.conf
else
	echo 'access_log off;' >/tmp/nginx/accesslog.conf
fi

/usr/bin/scarf-gateway &
gw=$!
i=0
until [ -S "$SOCK" ]; do
	if ! kill -0 "$gw" 2>/dev/null || [ "$i" -ge 300 ]; then
		wait "$gw"
		rc=$?
		say "the gateway did not start (exit status $rc)"
		exit $((rc == 0 ? 1 : rc))
	fi
	i=$((i + 1))
	sleep 0.1
done
# -e: not the compiled-in /var/log/nginx/error.log (unwritable here)
/usr/sbin/nginx -e stderr -c /etc/nginx/scarf-gateway.conf &
ng=$!

stopping=
trap 'stopping=1; kill -TERM "$ng" "$gw" 2>/dev/null' TERM INT
trap 'kill -HUP "$gw" 2>/dev/null' HUP
while :; do
	wait -n "$gw" "$ng"
	rc=$?
	[ -n "$stopping" ] && break
	if ! kill -0 "$gw" 2>/dev/null; then
		say "the gateway exited (status $rc); stopping"
		break
	fi
	if ! kill -0 "$ng" 2>/dev/null; then
		say "nginx exited (status $rc); stopping"
		break
	fi
done
kill -TERM "$ng" "$gw" 2>/dev/null
wait
[ -n "$stopping" ] && exit 0
exit $((rc == 0 ? 1 : rc))
