# flightmesh: two commands on a fresh machine.
#   make serve   set up, then serve the embedded demo mesh on grpc://127.0.0.1:8815
#   make test    set up, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8815

.PHONY: install serve test test-spark-jvm lint typecheck proto services bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# flightsql-dbapi (a client the tests drive) pins sqlalchemy<2, which sqlalchemy-adbc's >=2
	# excludes; its DB-API works on SQLAlchemy 2, so it comes without its dependencies.
	$(BIN)/python -m pip install --quiet --no-deps 'flightsql-dbapi==0.2.2'
	touch $(STAMP)

install: $(STAMP)

# SQLite statements can be stopped only through this extension (connectors/sqlite_interrupt.py
# says why). It needs SQLite's extension header, from libsqlite3-dev on Debian.
SQLITE_INTERRUPT := connectors/libsqlite_interrupt.so
$(SQLITE_INTERRUPT): connectors/sqlite_interrupt.c
	@echo '#include <sqlite3ext.h>' | $(CC) -E -x c - >/dev/null 2>&1 || apt-get install -y libsqlite3-dev
	$(CC) -shared -fPIC -O2 -fvisibility=hidden -Wall -o $@ $<

install serve test bench: $(SQLITE_INTERRUPT)

# The web console's browser tests (tests/server/test_console.py) drive Debian's Chromium through
# Playwright, whose own browser download cannot work here.
chromium:
	@(command -v chromium && command -v chromedriver) >/dev/null 2>&1 || apt-get install -y chromium chromium-driver || \
	  (apt-get update && apt-get install -y chromium chromium-driver)

test: chromium

serve: $(STAMP)
	$(BIN)/flightmesh demo demo-mesh --port $(PORT)

# The tests use the PostgreSQL and MariaDB servers of this machine; start them if they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
	  (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || true
	@mariadb-admin -h 127.0.0.1 -u root status >/dev/null 2>&1 || \
	  (command -v mariadbd >/dev/null && start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd && sleep 3) || true

test: $(STAMP) services
	$(BIN)/python -m pytest

# Apache Spark's own Spark Connect server (a JVM, Java 17) against the spark engine kind: slow and
# left out of `make test`. The first run puts the pyspark wheel (its jars) in build/spark-jvm/venv,
# never in $(VENV), where a PySpark 4.3 would break the in-process Sail of the other spark tests.
test-spark-jvm: $(STAMP) services
	FLIGHTMESH_SPARK_JVM=1 $(BIN)/python -m pytest -m spark_jvm -s tests/connectors/test_spark_jvm.py

lint: $(STAMP)
	$(BIN)/ruff check mesh connectors governance planner executor server tests benchmarks

# mypy cannot follow setuptools' package-dir mapping of flightmesh.* onto the top-level folders
# (it would see every import across them as Any), so it checks them through a generated view,
# build/typecheck/flightmesh/<folder> -> <folder>, as the one package they are once installed.
# Paths in its report are rewritten back to the folders (flightmesh/mesh/x.py -> mesh/x.py).
PACKAGES  := mesh connectors governance planner executor server
TYPECHECK := build/typecheck

typecheck: $(STAMP)
	@mkdir -p $(TYPECHECK)/flightmesh
	@touch $(TYPECHECK)/flightmesh/__init__.py
	@for p in $(PACKAGES); do ln -sfn ../../../$$p $(TYPECHECK)/flightmesh/$$p; done
	@cd $(TYPECHECK) && { $(abspath $(BIN))/mypy --config-file ../../pyproject.toml --cache-dir .mypy_cache \
	  -p flightmesh 2>&1; echo $$? >.status; } | sed 's|^flightmesh/||'; exit $$(cat .status)

proto: $(STAMP)
	$(BIN)/python server/proto/generate.py

bench: $(STAMP) services
	$(BIN)/python benchmarks/tpch.py --sf 1
	$(BIN)/python benchmarks/transport.py
	$(BIN)/python benchmarks/broad.py --sf 0.1

clean:
	rm -rf $(VENV) demo-mesh .pytest_cache tests/.data $(SQLITE_INTERRUPT)
