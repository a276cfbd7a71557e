"""The real field of view: on the synthetic benchmark's clipped EyePACS fields, the retina mask leaves the caps out of the cache's
retina, out of the heatmap scores and out of what a distortion may light."""
from dataclasses import replace
import numpy as np, pytest
from PIL import Image
from dr_study.cache import CachedFundus, build_cache
from dr_study.data import Record, records_frame
from dr_study.explain import relevance_mass_accuracy, relevance_outside
from dr_study.preprocess import Prep, field_of_view, find_fov
from dr_study.robustness import CorruptedSets
from dr_study.synthetic import SITES, healthy_eye, photograph

S = 96


def caps_of(info, size=S, margin=1.5):
    "The circle's pixels that map outside the photograph's top or bottom (`margin` output pixels away from the edge)."
    c = info['circle']; y = c.cy - c.r + (np.arange(size) + 0.5) * 2 * c.r / size  # photograph row of each output row
    px = 2 * c.r / size  # photograph pixels per output pixel
    rows = (y < -margin * px) | (y > info['height'] + margin * px)
    return field_of_view(size) & rows[:, None]


@pytest.fixture(scope='module')
def clipped(tmp_path_factory):
    "Three photographs of the synthetic EyePACS site with the disc 1.3 times the height (EyePACS: up to 1.12): large top and bottom caps clipped."
    d = tmp_path_factory.mktemp('clipped'); site = replace(SITES['eyepacs'], diameter=(1.3, 1.3), notch_p=0.0, flip_p=0.0, blur_p=0.0)
    recs, infos = [], []
    for i in range(3):
        img, _, info = photograph(healthy_eye(i), site, 0.15, np.random.default_rng(i))
        Image.fromarray(img).save(d/f'e{i}.png'); recs.append(Record('eyepacs', 'test', f'e{i}', f'p{i}', 'left', 0, str(d/f'e{i}.png')))
        infos.append(dict(info, circle=find_fov(img)))  # the circle the crop is cut around
    ds = CachedFundus(build_cache(records_frame(recs), d/'cache', 'eyepacs', prep=Prep(S, 'crop'), workers=0, progress=False))
    return ds, infos


def test_the_caps_are_not_retina(clipped):
    ds, infos = clipped
    for i, info in enumerate(infos):
        caps, ret = caps_of(info), ds.retina(i)
        assert caps.sum() > 0.05 * field_of_view(S).sum()  # a real clip: more than 5% of the circle
        assert not (ret & caps).any()
        inner = field_of_view(S, 0.9) & ~caps_of(info, margin=-2)  # the rest of the disc, two pixels in from the caps' edge
        assert ret[inner].all()


def test_the_caps_are_left_out_of_the_scores(clipped):
    ds, infos = clipped
    region, circle = ds.retinas(), field_of_view(S)
    lesion = np.zeros((3, S, S), bool); lesion[:, 40:50, 40:50] = True
    caps = np.stack([caps_of(i, margin=0) & ~r for i, r in zip(infos, region)])  # cap pixels outside the retina
    heat = lesion.astype(float) + caps  # relevance on the lesion and on the black caps
    np.testing.assert_allclose(relevance_mass_accuracy(heat, lesion, region), 1.0)  # scored on the retina: the caps do not count
    assert (relevance_mass_accuracy(heat, lesion, circle) < 0.5).all()  # scored on the circle they would dilute it
    out = relevance_outside(heat, region).outside.to_numpy()
    np.testing.assert_allclose(out, caps.sum((1, 2)) / heat.sum((1, 2)))


def test_a_distortion_does_not_light_the_caps(clipped, tmp_path):
    ds, infos = clipped
    from dr_study.cache import CacheArray
    light = {'light': lambda img, severity, seed: np.full_like(img, 200)}  # lights every pixel, as fog or brightness do the surround
    sets = CorruptedSets(tmp_path/'c', CacheArray(ds), names=['light'], severities=[1], workers=0, corruptions=light, keep=ds.retinas())
    sets.build()
    imgs, ok = sets.get('light', 1)
    for i, info in enumerate(infos):
        assert ok[i] and (np.asarray(imgs[i])[caps_of(info)] == 0).all() and (np.asarray(imgs[i])[ds.retina(i)] == 200).all()
    with pytest.raises(ValueError, match=r'keep must be a bool \(96, 96\) or \(3, 96, 96\) array'):
        CorruptedSets(tmp_path/'d', CacheArray(ds), names=['light'], corruptions=light, keep=ds.retinas()[:2])
