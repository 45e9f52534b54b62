# shellcheck shell=sh
# A stand-in API: needs its secret key, serves /health once it has it.
if [ -z "$SECRET_KEY" ]; then
    echo "api: SECRET_KEY is not set" >&2
    exit 1
fi
mkdir -p /www
echo ok > /www/health
echo "$DOMAIN" > /www/domain
echo "api: serving ${DOMAIN} on 127.0.0.1:8080"
exec httpd -f -p 127.0.0.1:8080 -h /www
