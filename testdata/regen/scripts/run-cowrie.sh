#!/bin/bash
cd /work/tools-fixtures/cowrie-home
export PATH=/work/tools-fixtures/cowrie-venv/bin:$PATH TZ=UTC COWRIE_STDOUT=yes PYTHONDONTWRITEBYTECODE=1
exec /work/tools-fixtures/cowrie-venv/bin/cowrie start
