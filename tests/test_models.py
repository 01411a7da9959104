import pytest
import torch

from latentfx.models import ModelConfig, build_model


def spatial(**kw):
    return build_model(ModelConfig(family="spatial", widths=(8, 16), blocks=1, latent_channels=4, **kw))


def vector(size=32, **kw):
    return build_model(ModelConfig(family="vector", image_size=size, widths=(8, 16, 16), blocks=1,
                                   latent_dim=6, **kw))


@pytest.mark.parametrize("h, w", [(32, 32), (37, 53), (8, 120), (1, 1)])
def test_spatial_any_size_round_trips_to_the_input_size(h, w):
    model = spatial().eval()
    x = torch.rand(2, 3, h, w)
    posterior = model.encode(x)
    assert posterior.mean.shape == (2, *model.latent_shape(h, w))
    assert model.latent_shape(h, w) == (4, -(-h // 4), -(-w // 4))
    out = model.reconstruct(x)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1


def test_vector_latent_is_a_vector_and_other_sizes_are_refused():
    model = vector(size=32).eval()
    z = model.encode(torch.rand(3, 3, 32, 32)).mode()
    assert z.shape == (3, 6)
    assert model.decode(z).shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="32x32 only"):
        model.encode(torch.rand(1, 3, 48, 32))


def test_vector_works_at_sizes_other_than_64():
    for size in (16, 48, 96):
        model = vector(size=size).eval()
        assert model.decode(model.encode(torch.rand(1, 3, size, size)).mode()).shape[-1] == size


def test_vector_size_must_be_a_multiple_of_the_factor():
    with pytest.raises(ValueError, match="multiple of 16"):
        ModelConfig(family="vector", image_size=40, widths=(8, 16, 16, 16))


def test_posterior_sample_is_reparameterised_and_seeded():
    model = spatial()
    posterior = model.encode(torch.rand(1, 3, 16, 16))
    a = posterior.sample(torch.Generator().manual_seed(1))
    b = posterior.sample(torch.Generator().manual_seed(1))
    c = posterior.sample(torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(posterior.mode(), posterior.mean)
    a.sum().backward()  # gradients reach the encoder through the sample
    assert model.encoder.stem.weight.grad is not None


def test_kl_is_zero_exactly_at_the_prior():
    from latentfx.models import DiagonalGaussian

    p = DiagonalGaussian(torch.zeros(2, 5), torch.zeros(2, 5))
    assert torch.allclose(p.kl(), torch.zeros(2))
    q = DiagonalGaussian(torch.ones(2, 5), torch.zeros(2, 5))
    assert torch.allclose(q.kl(), torch.full((2,), 2.5))


def test_every_parameter_gets_a_gradient():
    for model in (spatial(), vector()):
        x = torch.rand(2, 3, 32, 32)
        recon, posterior = model(x, generator=torch.Generator().manual_seed(0))
        ((recon - x) ** 2).mean().add(posterior.kl().mean()).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing


def test_config_round_trips_through_dict():
    config = ModelConfig(family="spatial", widths=(8, 16), decoder_widths=(4, 8), latent_channels=3)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**config.to_dict(), "surprise": 1})


def test_only_a_vector_model_has_a_native_size_and_sees_pictures_at_it():
    assert vector(size=32).native_size == (32, 32)
    assert vector(size=32).working_size(48, 80) == (32, 32)
    assert spatial().native_size is None
    assert spatial().working_size(48, 80) == (48, 80)


@pytest.mark.parametrize("h, w", [(32, 32), (37, 53)])
def test_picture_size_is_the_padded_size_a_latent_was_encoded_at(h, w):
    model = spatial()
    assert model.picture_size(model.latent_shape(h, w)) == model.padded_size(h, w)
    assert model.picture_size((5, *model.latent_shape(h, w))) == model.padded_size(h, w)
    assert vector(size=32).picture_size((6,)) == (32, 32)


def test_a_spatial_latent_is_resampled_to_another_size_and_a_vector_latent_kept():
    model = spatial().eval()
    z = model.encode(torch.rand(2, 3, 32, 48)).mode()  # (2, 4, 8, 12)
    fitted = model.fit_latent(z, 64, 40)
    assert fitted.shape == (2, *model.latent_shape(64, 40))
    # A constant latent stays that constant wherever it is resampled to.
    flat = torch.full((1, 4, 8, 12), 0.25)
    assert torch.allclose(model.fit_latent(flat, 20, 20), torch.full((1, 4, 5, 5), 0.25))
    assert model.fit_latent(z, 32, 48) is z
    v = torch.randn(2, 6)
    assert vector(size=32).fit_latent(v, 64, 40) is v


def test_spatial_padding_reflects_and_encoding_pads_the_same_way():
    model = spatial().eval()
    x = torch.rand(1, 3, 6, 5)
    padded = model.pad(x)
    assert padded.shape[-2:] == (8, 8)
    assert torch.equal(padded[..., 6, :5], x[..., 4, :])  # reflected about the last row
    whole = torch.rand(1, 3, 8, 8)
    assert model.pad(whole) is whole  # already whole latent pixels
    one = torch.rand(1, 3, 1, 1)  # padding wider than the picture: replicated
    assert torch.equal(model.pad(one), one.expand(1, 3, 4, 4))
    assert torch.equal(model.encode(x).mean, model.encode(padded).mean)


def test_a_config_describes_only_the_fields_its_family_uses():
    v = ModelConfig(family="vector", image_size=32, widths=(8, 16), latent_dim=6)
    assert "latent_dim" in v.meaningful_fields()
    assert "latent_channels" not in v.meaningful_fields()
    assert "decoder_widths" not in v.meaningful_fields()  # unset
    s = ModelConfig(family="spatial", widths=(8, 16), decoder_widths=(4, 8))
    assert "latent_dim" not in s.meaningful_fields()
    assert s.meaningful_fields()["latent_channels"] == 4
    assert s.meaningful_fields()["decoder_widths"] == [4, 8]


def test_family_defaults_build_the_configs_training_starts_from():
    from latentfx.models.defaults import FAMILY_DEFAULTS

    vec, spa = FAMILY_DEFAULTS["vector"], FAMILY_DEFAULTS["spatial"]
    assert vec.config(size=64, latent=vec.latent, widths=None, blocks=2) == ModelConfig(
        family="vector", image_size=64, widths=(16, 32, 64, 128), blocks=2, latent_dim=32,
        normalize_means=True)
    assert spa.config(size=96, latent=spa.latent, widths=None, blocks=2) == ModelConfig(
        family="spatial", image_size=96, widths=(32, 64), blocks=2, latent_channels=4)
    assert spa.config(size=96, latent="8:8", widths=None, blocks=1).widths == (32, 64, 128)
    assert vec.beta > spa.beta  # the vector family trades sharpness for a walkable space
    with pytest.raises(ValueError, match="factor must be 2, 4"):
        spa.config(size=96, latent="4:6", widths=None, blocks=1)


def test_normalised_means_match_the_prior_in_their_first_two_moments():
    """BN-VAE: in training every batch of means is standardised per dimension; at inference
    the running statistics do the same for the data they were gathered on."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(family="vector", image_size=16, widths=(8, 16),
                                    latent_dim=6, normalize_means=True))
    x = torch.rand(64, 3, 16, 16) * torch.linspace(0.2, 1.0, 64)[:, None, None, None]
    model.train()
    for _ in range(200):  # gather running statistics (momentum 0.1: 0.9 ** 200 of the start)
        means = model.encode(x).mean
    assert torch.allclose(means.mean(0), torch.zeros(6), atol=1e-5)
    # (just under 1: batch norm's epsilon, against the small spread of an untrained encoder)
    assert torch.allclose(means.std(0, unbiased=False), torch.ones(6), atol=0.1)
    trained = means.std(0, unbiased=False)
    model.eval()
    with torch.no_grad():
        means = model.encode(x).mean
    assert means.mean(0).abs().max() < 0.05
    assert torch.allclose(means.std(0, unbiased=False), trained, atol=0.05)
    plain = build_model(ModelConfig(family="vector", image_size=16, widths=(8, 16), latent_dim=6))
    assert not any("mean_norm" in k for k in plain.state_dict())  # older models unchanged


def test_the_logvar_clamp_lets_the_kl_pull_a_collapsed_variance_back():
    from latentfx.models.posterior import DiagonalGaussian

    logvar = torch.tensor([[-40.0, -5.0, 25.0]], requires_grad=True)
    posterior = DiagonalGaussian(torch.zeros(1, 3), logvar)
    assert posterior.logvar.tolist() == [[-30.0, -5.0, 20.0]]  # the values are clamped
    posterior.kl().sum().backward()
    assert logvar.grad[0, 0] < 0  # descending raises a collapsed logvar, even below the clamp
    assert logvar.grad[0, 2] > 0
