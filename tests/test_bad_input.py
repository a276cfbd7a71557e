"""Every bad-input case of the readers and the cache, on damaged copies of real `dr-study synth` output.

Structural problems raise a DataError naming the file; per-image problems are excluded and recorded with
their reason (SkipLog -> skipped.csv), and the rest of the data set is still read."""
import pandas as pd, pytest
from PIL import Image
from dr_study.core import DataError
from dr_study.paths import SynthLayout
from dr_study.data import SkipLog, read_eyepacs, read_messidor2, read_idrid_segmentation, mask_report
from dr_study.preprocess import Prep
from dr_study.cache import build_cache, CachedFundus


def _labels(lay, split='train'):
    return pd.read_csv(lay.eyepacs.labels(split), dtype=str)


def test_synthetic_output_reads_cleanly(synth_root):
    lay, log = SynthLayout(synth_root), SkipLog()
    df = read_eyepacs(lay.eyepacs.root, 'train', log=log)
    assert len(df) == len(_labels(lay)) and len(log) == 0


def test_missing_image_is_skipped_with_reason(synth_copy):
    lay = SynthLayout(synth_copy); victim = _labels(lay).image[5]
    lay.eyepacs.image('train', victim).unlink()
    log = SkipLog(); df = read_eyepacs(lay.eyepacs.root, 'train', log=log)
    assert victim not in set(df.id) and len(df) == len(_labels(lay)) - 1
    assert log.frame().set_index('id').reason[victim] == 'image file not found'


def test_grade_out_of_range_is_skipped_with_reason(synth_copy):
    lay = SynthLayout(synth_copy); lab = _labels(lay); lab.loc[3, 'level'] = '7'
    lab.to_csv(lay.eyepacs.labels('train'), index=False)
    log = SkipLog(); df = read_eyepacs(lay.eyepacs.root, 'train', log=log)
    assert lab.image[3] not in set(df.id)
    assert "grade '7' is not an integer in 0-4" in log.frame().reason.tolist()


def test_missing_column_names_file_and_column(synth_copy):
    lay = SynthLayout(synth_copy)
    _labels(lay).rename(columns={'level': 'grade'}).to_csv(lay.eyepacs.labels('train'), index=False)
    with pytest.raises(DataError, match=r"trainLabels\.csv: missing column\(s\) 'level'"):
        read_eyepacs(lay.eyepacs.root, 'train')


def test_duplicate_ids_name_file_and_id(synth_copy):
    lay = SynthLayout(synth_copy); lab = _labels(lay)
    pd.concat([lab, lab.iloc[[2]]]).to_csv(lay.eyepacs.labels('train'), index=False)
    with pytest.raises(DataError, match=f"trainLabels.csv: duplicate ids in 'image': {lab.image[2]}"):
        read_eyepacs(lay.eyepacs.root, 'train')


def test_messidor_ungradable_and_missing_are_recorded(synth_copy):
    lay = SynthLayout(synth_copy); lab = pd.read_csv(lay.messidor2.labels, dtype=str)
    gone = lab.image_id[lab.adjudicated_gradable == '1'].iloc[0]
    (lay.messidor2.images/gone).unlink()
    log = SkipLog(); df = read_messidor2(lay.messidor2.root, log=log)
    reasons = log.frame().set_index('id').reason
    assert reasons[gone] == 'image file not found'
    assert (reasons == 'ungradable (adjudicated_gradable=0)').sum() == (lab.adjudicated_gradable == '0').sum() >= 1
    assert len(df) == len(lab) - len(reasons)


def test_unreadable_truncated_and_black_images_are_excluded_at_cache_time(synth_copy, tmp_path):
    lay = SynthLayout(synth_copy); lab = _labels(lay)
    lay.eyepacs.image('train', lab.image[6]).write_text('this is not a JPEG')
    df = read_eyepacs(lay.eyepacs.root, 'train')
    log = SkipLog(); ds = CachedFundus(build_cache(df, tmp_path/'cache', 'eyepacs', prep=Prep(48), log=log, progress=False))
    reasons = log.frame().set_index('id').reason
    # the synthetic set ships one all-black and one truncated image, like the real EyePACS
    assert reasons.str.startswith('all black').sum() == 1
    assert reasons.str.contains('truncated').sum() == 2 and reasons[lab.image[6]].startswith('unreadable')
    assert len(ds) == len(df) - 3 and not set(reasons.index) & set(ds.records.id)


def test_idrid_mask_of_wrong_size_is_dropped_and_recorded(synth_copy):
    lay = SynthLayout(synth_copy); idr = lay.idrid
    mask = idr.seg_mask('train', 'EX', 'IDRiD_01')
    if not mask.exists(): pytest.skip('IDRiD_01 has no exudate mask in this seed')
    Image.open(mask).resize((10, 10)).save(mask)
    log = SkipLog(); seg = read_idrid_segmentation(idr.root, log=log)
    row = seg.set_index('id').loc['IDRiD_01']
    assert pd.isna(row.mask_EX) and isinstance(row.mask_OD, str)  # only the bad mask goes
    assert log.frame().reason.str.match(r'EX mask size 10x10 differs from image size \d+x\d+').sum() == 1


def test_missing_masks_are_allowed_and_reported(synth_copy):
    idr = SynthLayout(synth_copy).idrid
    for p in idr.seg_masks('train', 'MA').glob('*.tif'): p.unlink()
    seg = read_idrid_segmentation(idr.root, log=SkipLog())
    rep = mask_report(seg)
    assert rep.loc['train', 'MA'] == 0 and rep.loc['train', 'images'] > 0 and rep.loc['train', 'OD'] == rep.loc['train', 'images']


def test_missing_image_folder_names_the_folder(synth_copy):
    import shutil
    lay = SynthLayout(synth_copy); shutil.rmtree(lay.eyepacs.images('test'))
    with pytest.raises(DataError, match=r'eyepacs/test: image folder not found'):
        read_eyepacs(lay.eyepacs.root, 'test')
