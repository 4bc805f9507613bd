import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { resolveBinaryOverrides } from './binaries';
import { cacheDir } from './paths';

describe('resolveBinaryOverrides', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'assets-'));
    for (const b of ['etcd', 'kube-apiserver']) {
      await writeFile(path.join(dir, b), '#!/bin/sh\n');
      await chmod(path.join(dir, b), 0o755);
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reports every binary missing without overrides', () => {
    expect(resolveBinaryOverrides({}).missing).toEqual([
      'etcd',
      'kubeApiserver',
      'kubeControllerManager',
      'kubeScheduler',
      'kwok',
    ]);
  });

  it('uses KUBEBUILDER_ASSETS for the binaries it holds and TEST_ASSET_* first', () => {
    const r = resolveBinaryOverrides({ KUBEBUILDER_ASSETS: dir, TEST_ASSET_ETCD: '/opt/etcd' });
    expect(r.found).toEqual({ etcd: '/opt/etcd', kubeApiserver: path.join(dir, 'kube-apiserver') });
    expect(r.missing).toEqual(['kubeControllerManager', 'kubeScheduler', 'kwok']);
  });
});

describe('cacheDir', () => {
  it('follows KUBEAWS_CACHE_DIR, then XDG_CACHE_HOME', () => {
    expect(cacheDir({ KUBEAWS_CACHE_DIR: '/c' })).toBe('/c');
    expect(cacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/kubeaws');
  });
});
