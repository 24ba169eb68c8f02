#!/bin/sh
# Forwards the backend's API and event stream through this origin when
# API_URL is set (docker compose and the Kubernetes manifests set it), so the
# page can call /hello/:name and open /ws/events on its own origin.
set -eu

target=/etc/nginx/api-proxy/api.conf
api="${API_URL:-}"
api="${api%/}"

if [ -z "$api" ]; then
    rm -f "$target"
    echo "40-api-proxy: API_URL not set, the API is not proxied"
    exit 0
fi

case "$api" in
    http://*|https://*) ;;
    *) echo "40-api-proxy: API_URL must start with http:// or https://" >&2; exit 1 ;;
esac
case "$api" in
    *[!A-Za-z0-9._:/-]*) echo "40-api-proxy: API_URL has unexpected characters" >&2; exit 1 ;;
esac

cat > "$target" <<CONF
location /hello {
    proxy_pass $api;
    proxy_connect_timeout 2s;
    proxy_read_timeout 10s;
}

location = /echo {
    proxy_pass $api;
    proxy_connect_timeout 2s;
    proxy_read_timeout 10s;
}

location /ws/ {
    proxy_pass $api;
    proxy_http_version 1.1;
    proxy_set_header Upgrade \$http_upgrade;
    proxy_set_header Connection "upgrade";
    proxy_connect_timeout 2s;
    proxy_read_timeout 1h;
}
CONF
echo "40-api-proxy: forwarding /hello, /echo and /ws/ to $api"
