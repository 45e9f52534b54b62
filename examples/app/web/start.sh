# shellcheck shell=sh
# A stand-in web front: the page names the configured domain.
mkdir -p /www
printf '<!doctype html>\n<title>pxdeploy example</title>\n<p>Hello from %s</p>\n' "$DOMAIN" > /www/index.html
echo "web: serving ${DOMAIN} on 127.0.0.1:80"
exec httpd -f -p 127.0.0.1:80 -h /www
