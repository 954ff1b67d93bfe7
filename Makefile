# Set-up and the two entry points of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow install clean-venv

$(BIN)/vidcli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,full]"
	# ultralytics requires opencv-python, mediapipe opencv-contrib-python; both write cv2/: keep the contrib one
	if $(BIN)/python -m pip show --quiet opencv-python 2>/dev/null; then \
	  $(BIN)/python -m pip uninstall --quiet --yes opencv-python && \
	  $(BIN)/python -m pip install --quiet --force-reinstall --no-deps \
	    "opencv-contrib-python==$$($(BIN)/python -c 'from importlib.metadata import version; print(version("opencv-contrib-python"))')"; \
	fi
	touch $@

install: $(BIN)/vidcli

# Render a synthetic demo clip (with ground truth), run embedded motion capture on it and score it.
demo: install
	mkdir -p demo
	$(BIN)/vidcli synth demo/clip.mp4 --people 1 --camera orbit --duration 4 --seed 1
	$(BIN)/vidcli --workspace demo/work mocap demo/clip.mp4 -o demo/results
	$(BIN)/vidcli eval demo/work/clip-* demo/clip.mp4.gt --json-out demo/eval.json

test: install
	$(BIN)/python -m pytest -q

# The long tests (fault injection over 20 inputs, fuzzing with hundreds of files, end-to-end runs of the
# full backends with tiny weights, the luigid load test); not part of `make test`.
test-slow: install
	$(BIN)/python -m pytest -q -m slow

clean-venv:
	rm -rf $(VENV)
