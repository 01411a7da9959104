# Two entry points: `make demo` and `make test`. Both create the virtual environment on first
# use and reuse it afterwards (a stamp per install flavour, redone when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo demo-glyphs test clean-venv

# The stamp is written only once the venv works, so a half-made venv is made again.
$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null
	touch $@

$(VENV)/.installed-base: pyproject.toml | $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-base

# A walk through three bundled photos on the bundled default model: 9 s round as a seamless
# loop, resting half a second on each photo (shown exactly: --residual). The cat and a closer,
# turned view of her correspond, so that segment morphs (the face moves and grows); the cup
# corresponds to neither, so the walk dissolves to it and back.
demo: $(VENV)/.installed-base
	@mkdir -p $(OUT)
	$(BIN)/latentfx walk latentfx/samples/chelsea.jpg latentfx/samples/tabby.jpg \
		latentfx/samples/coffee.jpg --loop --residual --hold 12 --duration 9 \
		-o $(OUT)/demo-walk.mp4 --sheet $(OUT)/demo-walk-sheet.png
	@echo "demo output: $(abspath $(OUT)/demo-walk.mp4)"

# A walk on the bundled glyphs model (a vector model) carrying one capital G through five
# typefaces and back: sans, serif bold, italic, typewriter, bold oblique. Every frame between
# them is a G of an in-between face, not a crossfade of two. The letters are drawn here once.
LETTERS := $(OUT)/demo-letters
GLYPH_FACES := dejavu_sans dejavu_serif_bold stix_general_italic computer_modern_typewriter \
	dejavu_sans_bold_oblique
demo-glyphs: $(VENV)/.installed-base
	@test -f $(LETTERS)/labels.csv || $(BIN)/latentfx glyphs $(LETTERS) --chars G >/dev/null
	$(BIN)/latentfx walk -m glyphs $(foreach f,$(GLYPH_FACES),$(LETTERS)/$(f)_upper_G_00.png) \
		--loop --duration 8 -o $(OUT)/demo-glyphs.mp4 --sheet $(OUT)/demo-glyphs-sheet.png \
		--sheet-frames 15
	@echo "demo output: $(abspath $(OUT)/demo-glyphs.mp4)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
