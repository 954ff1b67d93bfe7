# Set-up and the two entry points of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export ANNY_CACHE_DIR ?= $(CURDIR)/.cache/anny

.PHONY: demo test install clean-venv

$(BIN)/vidcli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/vidcli

# Build a demo clip with the bundled ffmpeg, then run the embedded pipeline on it.
demo: install
	mkdir -p demo
	$(BIN)/python examples/make_demo_clip.py demo/clip.mp4
	$(BIN)/vidcli --workspace demo/work flow demo/clip.mp4 -o demo/results

test: install
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
