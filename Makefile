# The two commands a newcomer needs are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint type unit integration cassandra cassandra-stop schema bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: serve on 127.0.0.1:8080 with the embedded SQLite store under ./var/
run: $(STAMP)
	$(BIN)/datapoints serve

## test: lint, types, unit + functional (embedded store), integration (real Cassandra)
test: $(STAMP)
	$(BIN)/tox run -e lint,type,unit,integration

lint: $(STAMP)
	$(BIN)/tox run -e lint
type: $(STAMP)
	$(BIN)/tox run -e type
unit: $(STAMP)
	$(BIN)/tox run -e unit
integration: $(STAMP)
	$(BIN)/tox run -e integration

## cassandra: start a local single-node Cassandra 5.0 (jars from Maven Central)
cassandra:
	$(PYTHON) docker/cassandra_local.py start
cassandra-stop:
	$(PYTHON) docker/cassandra_local.py stop

## schema: apply the schema to the store named by DATAPOINTS_STORE
schema: $(STAMP)
	$(BIN)/datapoints schema apply

## bench: the ingest benchmark against a running Cassandra (see BENCHMARKS.md)
bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .tox build *.egg-info
