/**
 * The component's configuration as the runtime parses it (docs/authnz-webhook.md#authnz-flags, #authnz-config,
 * #authnz-standalone): the shared flags with `KUBEAWS_AUTHNZ_*` env names and this component's defaults, the Lease
 * in the emergency-access namespace unless set, exit codes of a bad file (1) and of no cluster with emergency
 * access (2), and the listeners that follow from the flags.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, ExitError } from '@kubeaws/runtime';
import { KubeConfig } from '@kubernetes/client-node';
import { configYaml } from '../test/helpers';
import { ClusterAccessRequired } from './cluster-access';
import { authnzWebhook } from './component';
import { ConfigFileError } from './config';

let dir: string;
const file = (name: string) => path.join(dir, name);
const loopback = ['--insecure-loopback-webhook', '--access-api-bind-address='];
const noFiles = { exists: () => false };
const kubeConfig = new KubeConfig();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'authnz-component-'));
  writeFileSync(file('enabled.yaml'), configYaml({ issuerUrl: 'https://idp.example.com', namespace: 'access-x' }));
  writeFileSync(file('disabled.yaml'), configYaml({ issuerUrl: 'https://idp.example.com', emergencyAccess: false }));
  writeFileSync(file('bad.yaml'), 'apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\nnope: 1\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('authnz-webhook component configuration', () => {
  it('has the documented shared-flag defaults; the Lease lives in the emergency-access namespace', () => {
    const s = authnzWebhook.parse(
      [`--config=${file('enabled.yaml')}`, ...loopback],
      { POD_NAMESPACE: 'kube-system' },
      {
        kubeConfig,
      },
    );
    expect(s).toMatchObject({
      metricsBindAddress: ':8483',
      healthProbeBindAddress: ':8484',
      leaderElect: true,
      leaseName: 'kubeaws-authnz-webhook',
      leaseNamespace: 'access-x',
      logLevel: 'info',
      webhook: { bindAddress: '127.0.0.1:8481', tls: undefined },
      access: undefined,
      reloadIntervalMs: 10_000,
      housekeepingIntervalMs: 5_000,
    });
    expect(s.initialConfig.emergencyAccess.namespace).toBe('access-x');
  });

  it('reads the shared flags from KUBEAWS_AUTHNZ_<FLAG>, and an explicit Lease namespace wins', () => {
    const s = authnzWebhook.parse(
      [`--config=${file('enabled.yaml')}`, ...loopback],
      {
        KUBEAWS_AUTHNZ_LEASE_NAMESPACE: 'leases',
        KUBEAWS_AUTHNZ_LEASE_NAME: 'my-lease',
        KUBEAWS_AUTHNZ_LEADER_ELECT: 'false',
        KUBEAWS_AUTHNZ_METRICS_BIND_ADDRESS: ':9444',
        KUBEAWS_AUTHNZ_LOG_LEVEL: 'debug',
        LEASE_NAMESPACE: 'ignored',
        METRICS_BIND_ADDRESS: ':1',
      },
      { kubeConfig },
    );
    expect(s).toMatchObject({
      leaseNamespace: 'leases',
      leaseName: 'my-lease',
      leaderElect: false,
      metricsBindAddress: ':9444',
      logLevel: 'debug',
    });
    expect(
      authnzWebhook.parse(
        [`--config=${file('enabled.yaml')}`, ...loopback, '--lease-namespace=flagged'],
        {},
        {
          kubeConfig,
        },
      ).leaseNamespace,
    ).toBe('flagged');
    expect(() =>
      authnzWebhook.parse(
        [`--config=${file('enabled.yaml')}`, ...loopback, '--metrics-bind-address=x'],
        {},
        {
          kubeConfig,
        },
      ),
    ).toThrow(
      'invalid value "x" for --metrics-bind-address (env KUBEAWS_AUTHNZ_METRICS_BIND_ADDRESS): expected [host]:port such as :8483',
    );
  });

  it('resolves the listeners from the flags; without cluster access the access API is off', () => {
    const argv = [
      `--config=${file('disabled.yaml')}`,
      '--tls-cert-file=/c',
      '--tls-private-key-file=/k',
      '--client-ca-file=/ca',
      '--access-api-tls-cert-file=/ac',
    ];
    const withCluster = authnzWebhook.parse(argv, {}, { kubeConfig });
    expect(withCluster.webhook).toEqual({
      bindAddress: '127.0.0.1:8481',
      tls: { certFile: '/c', keyFile: '/k', clientCaFile: '/ca', allowedClientNames: [] },
    });
    expect(withCluster.access).toEqual({ bindAddress: ':8482', tls: { certFile: '/ac', keyFile: '/k' } });
    const standalone = authnzWebhook.parseWithAccess(argv, {}, noFiles);
    expect(standalone).toMatchObject({ standalone: true, config: { access: undefined } });
  });

  it('an invalid configuration file exits 1 with one line per problem', () => {
    const err = (() => {
      try {
        authnzWebhook.parse([`--config=${file('bad.yaml')}`, ...loopback], {}, { kubeConfig });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigFileError);
    expect(err).toBeInstanceOf(ExitError);
    expect((err as ExitError).exitCode).toBe(1);
    expect((err as ExitError).message).toBe(
      `invalid configuration ${file('bad.yaml')}\n${(err as ConfigFileError).problems.join('\n')}`,
    );
    expect(() => authnzWebhook.parse([`--config=${file('missing.yaml')}`, ...loopback], {}, { kubeConfig })).toThrow(
      `invalid configuration ${file('missing.yaml')}\n(file): cannot read (got ENOENT; expected a readable YAML file)`,
    );
  });

  it('bad flags are checked before the file; no cluster with emergency access enabled exits 2', () => {
    expect(() => authnzWebhook.parse([`--config=${file('bad.yaml')}`], {}, noFiles)).toThrow(
      'flag --tls-cert-file is required for the mTLS webhook listener (env KUBEAWS_AUTHNZ_TLS_CERT_FILE)',
    );
    const err = (() => {
      try {
        authnzWebhook.parse([`--config=${file('enabled.yaml')}`, ...loopback], {}, noFiles);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ClusterAccessRequired);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^no cluster access: --kubeconfig not given/);
    expect(
      authnzWebhook.parseWithAccess([`--config=${file('disabled.yaml')}`, ...loopback], {}, noFiles).standalone,
    ).toBe(true);
  });
});
