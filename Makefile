# One command each: `make demo` installs and fits a real Kodak image with SIREN and with a
# ReLU network of the same size; `make test` installs and runs the quality gate (lint + tests).
PYTHON ?= python3
KODAK ?= ../shared/data/images/kodak/kodim23.png
RUNS ?= runs

.PHONY: demo test bench

demo:
	bash install.sh
	sirenkit fit image $(KODAK) --model siren --batch 65536 --steps 500 --out $(RUNS)/kodim23-siren --overwrite
	sirenkit fit image $(KODAK) --model relu --batch 65536 --steps 500 --out $(RUNS)/kodim23-relu --overwrite

test:
	bash install.sh test ray
	$(PYTHON) -m ruff check src tests benchmarks
	$(PYTHON) -m ruff format --check src tests benchmarks
	$(PYTHON) -m pytest

bench:
	bash install.sh test bench
	$(PYTHON) benchmarks/image_fit.py
	$(PYTHON) benchmarks/derivatives.py
	$(PYTHON) benchmarks/audio_video.py
