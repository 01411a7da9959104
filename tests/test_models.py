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
