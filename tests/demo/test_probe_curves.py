"""gtsa_mm_lab.demo.probe_curves (tools/probe_curves.py): DenseProbeHook curves read back
from a Runner work dir (scalars by iteration, epochs from the hook's log lines)."""
import json

import pytest

from gtsa_mm_lab.demo import probe_curves


def fake_run(work_dir, ranks):
    """A work dir with probes after epochs 0, 2, 4 (8 iterations per epoch)."""
    run = work_dir / '20261202_000000'
    (run / 'vis_data').mkdir(parents=True)
    rows, log = [{'loss': 1.0, 'step': 1}], []
    for (epoch, rank) in ranks:
        step = 8 * epoch
        row = {'step': step}
        for which, offset in (('student', 0.), ('teacher', 1.)):
            row.update({f'dense_probe/{which}/feature_effective_rank': rank + offset,
                        f'dense_probe/{which}/nn_mIoU': 10. + epoch})
            log.append(f'DenseProbe({which}) after {epoch} epochs, {step} iterations: x')
        rows.append(row)
    (run / 'vis_data' / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    (run / '20261202_000000.log').write_text('\n'.join(log))
    return work_dir


def test_curves_table_and_plot(tmp_path, capsys):
    run = fake_run(tmp_path / 'gtsa', [(0, 14.), (2, 12.5), (4, 11.)])
    curves = probe_curves.read_probe_curves(run)
    assert curves['student']['feature_effective_rank'] == [(0, 14.), (2, 12.5), (4, 11.)]
    assert curves['teacher']['feature_effective_rank'][-1] == (4, 12.)
    out = tmp_path / 'curves.png'
    assert probe_curves.main([str(run), '--labels', 'GTSA', '--epochs', '0', '4', '8',
                              '--out', str(out)]) == 0
    table = capsys.readouterr().out
    assert '| GTSA | student | effective rank | 14.00 | 11.00 | - |' in table
    assert '| GTSA | teacher | NN mIoU (%) | 10.00 | 14.00 | - |' in table
    assert out.stat().st_size > 0 and out.with_suffix('.md').read_text().startswith('| run')


def test_a_work_dir_without_probes_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='no <timestamp>/vis_data/scalars.json'):
        probe_curves.read_probe_curves(tmp_path)
