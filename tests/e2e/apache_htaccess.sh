#!/usr/bin/env bash
# Apache running the CGI build from an .htaccess only (shared hosting):
# deploy/apache-htaccess as shipped, rendered into a document root next to
# a copy of cgi/scarf-gateway.cgi.  The virtual host stands for the host's
# own config, limited to what the file's comment says the host must allow
# (AllowOverride FileInfo AuthConfig Indexes Options=ExecCGI, AllowEncodedSlashes
# NoDecode).  Runs the web-server checks (checks.py), checks that without
# AllowEncodedSlashes only %2F paths fail, then stops Apache by its pid and
# checks that no process it started is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"
. "$(dirname "$0")/apachelib.sh"

[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
command -v curl >/dev/null || skip_all "curl not found"
# a typical shared host's set: a CGI module, rewrite, env, dir, mime
apache_init alias cgid env rewrite dir mime
apache_stage
SITE=$T/site
mkdir -p "$SITE/tool"
install -m 0755 "$CGI" "$SITE/scarf-gateway.cgi"
echo "a file of the site" >"$SITE/robots.txt"
ok "deploy/apache-htaccess renders" render "$DEPLOY/apache-htaccess" \
    "$SITE/.htaccess" MANIFEST="$T/manifest.json" STATEDIR="$T"
chmod 0644 "$SITE/.htaccess"

port=$(free_port)
port2=$(free_port)
# the host's virtual hosts (not ours to ship): the second one lacks
# AllowEncodedSlashes
cat >"$T/site.conf" <<CONF
Listen 127.0.0.1:$port
<VirtualHost 127.0.0.1:$port>
    AllowEncodedSlashes NoDecode
    DocumentRoot "$SITE"
    <Directory "$SITE">
        AllowOverride FileInfo AuthConfig Indexes Options=ExecCGI
        Require all granted
    </Directory>
</VirtualHost>
Listen 127.0.0.1:$port2
<VirtualHost 127.0.0.1:$port2>
    DocumentRoot "$SITE"
    <Directory "$SITE">
        AllowOverride FileInfo AuthConfig Indexes Options=ExecCGI
        Require all granted
    </Directory>
</VirtualHost>
CONF
apache_start "$port" || done_testing
wait_port "$port2" || fail "Apache listens on $port2"

run_checks apache-htaccess "http://127.0.0.1:$port" "$T/events.log"

# every path goes to the program: "/", a directory, an existing file, the
# program's own name
for path in / /tool /robots.txt /scarf-gateway.cgi; do
	is "$(http_code -H 'Host: unknown.e2e.test' \
	    "http://127.0.0.1:$port$path")" 404 \
	    "$path is answered by the program (unknown host: 404)"
done
ok "... each with its own path in the event log" \
    wait_grep "$T/events.log" '"path":"/scarf-gateway.cgi"'
apache_path_checks "$port"
# (logged as AH01630 "client denied by server configuration")
is "$(http_code -H 'Host: dl.e2e.test' "http://127.0.0.1:$port/.htaccess")" \
    403 "/.htaccess is refused by the host's config"

# without AllowEncodedSlashes NoDecode: %2F is refused by Apache, the rest
# works
is "$(http_code -H 'Host: dl.e2e.test' \
    "http://127.0.0.1:$port2/enc/a%2Fb")" 404 \
    "no AllowEncodedSlashes: %2F gets Apache's 404"
is "$(http_code -H 'Host: dl.e2e.test' \
    "http://127.0.0.1:$port2/tool/v1.2.0/t.tgz")" 307 \
    "no AllowEncodedSlashes: other paths still reach the program"
is "$(grep -c '"path":"/enc/a%2Fb"' "$T/events.log")" 1 \
    "... and the refused %2F request never did (checks.py's one only)"

kids=$(descendants "$APACHE_PID")
apache_stop
# shellcheck disable=SC2086
is "$(still_alive $kids)" "" "no process Apache started is left"
is "$(pids_of_exe "$SITE/scarf-gateway.cgi")" "" "no CGI process is left"
apache_error_log_clean AH01630

done_testing
