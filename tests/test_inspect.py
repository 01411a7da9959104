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
