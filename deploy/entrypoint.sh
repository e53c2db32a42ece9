#!/bin/sh
# The container's three roles: web (gunicorn), worker, beat; or `migrate`, or any command.
set -eu
cd /opt/casetracker
case "${1:-web}" in
  web) exec .venv/bin/gunicorn casetracker.wsgi ;;
  worker) exec .venv/bin/celery -A casetracker worker --loglevel=info ;;
  beat) exec .venv/bin/celery -A casetracker beat --loglevel=info ;;
  migrate) exec .venv/bin/python manage.py migrate --noinput ;;
  *) exec "$@" ;;
esac
