"""`latentfx inspect`: every layer of the encoder and the decoder, in the order they run."""

from PIL import Image

from pipelines import inspect_layers


def test_layers_run_from_the_image_down_to_the_latent_and_back(tiny_vector_model,
                                                                tiny_spatial_model,
                                                                shapes_folder, tmp_path):
    for model in (tiny_vector_model, tiny_spatial_model):
        result = inspect_layers.run(inspect_layers.InspectSpec(
            image=str(shapes_folder / "shape_000004.png"), output=str(tmp_path / "l.png"),
            model=str(model), device="cpu", channels=4))
        names = [layer.name for layer in result.layers]
        first_decoder = next(i for i, n in enumerate(names) if n.startswith(("decoder",
                                                                             "from_latent")))
        assert names[0] == "encoder.stem" and names[-1] == "decoder.head"
        assert all(not n.startswith("decoder") for n in names[:first_decoder])
        sizes = [layer.shape[-1] for layer in result.layers if len(layer.shape) == 3]
        assert min(sizes) < sizes[0]  # the encoder shrinks the picture ...
        assert all(layer.low <= layer.high for layer in result.layers)
        rows = len(result.layers) + 2  # + the input and the output
        assert Image.open(tmp_path / "l.png").size[1] >= rows * 64


def test_a_tall_picture_does_not_space_the_layer_rows(tiny_spatial_model, tmp_path):
    """Rows are as tall as their own pictures: the thin layer strips under a tall input sit
    one under the other, not one input-height apart."""
    tall = tmp_path / "tall.png"
    Image.new("RGB", (160, 400), (200, 40, 40)).save(tall)
    result = inspect_layers.run(inspect_layers.InspectSpec(
        image=str(tall), output=str(tmp_path / "l.png"), model=str(tiny_spatial_model),
        device="cpu", channels=2))
    height = Image.open(tmp_path / "l.png").size[1]
    strips = len(result.layers)
    assert height < 2 * 400 + strips * 400 / 2  # spaced by the input, it was (strips+2)*400


def test_contact_sheet_rows_take_their_own_height(tmp_path):
    import torch

    from latentfx.images.contact_sheets import GUTTER, LINE_HEIGHT, Cell, contact_sheet

    cells = [Cell(torch.zeros(3, 300, 200), "tall")] + \
        [Cell(torch.zeros(3, 20, 200), f"thin {i}") for i in range(3)]
    contact_sheet(cells, tmp_path / "s.png", columns=1)
    caption = LINE_HEIGHT + 2 + GUTTER
    assert Image.open(tmp_path / "s.png").size[1] == GUTTER + 300 + 3 * 20 + 4 * caption
