import {
  AUDIT_POLICY_YAML,
  apiserverFlags,
  clusterLayout,
  controllerManagerFlags,
  etcdFlags,
  kwokFlags,
  mergeFlags,
  schedulerFlags,
  toFlags,
} from './flags';
import { pkiPaths } from './pki';

const layout = clusterLayout('/data', pkiPaths('/data/pki'), { etcdClient: 2379, etcdPeer: 2380, apiserver: 6443 });

function flagValue(flags: string[], name: string): string | undefined {
  const f = flags.find((x) => x.startsWith(`${name}=`));
  return f?.slice(name.length + 1);
}

describe('mergeFlags', () => {
  it('replaces defaults by name and appends new flags', () => {
    expect(mergeFlags(['--a=1', '--b=2', '--c'], ['--b=3', '--d=4'])).toEqual(['--a=1', '--c', '--b=3', '--d=4']);
  });
  it('keeps repeated extra flags', () => {
    expect(mergeFlags(['--x=1'], ['--x=2', '--x=3'])).toEqual(['--x=2', '--x=3']);
  });

  it('removes a default flag given as !--name and adds nothing for it', () => {
    expect(mergeFlags(['--authorization-mode=Node,RBAC', '--a=1'], ['!--authorization-mode', '--authorization-config=/c.yaml'])).toEqual([
      '--a=1',
      '--authorization-config=/c.yaml',
    ]);
    expect(toFlags({ 'authorization-mode': null, v: '2' })).toEqual(['!--authorization-mode', '--v=2']);
  });
});

describe('toFlags', () => {
  it('passes arrays through and converts records', () => {
    expect(toFlags(['--a=1'])).toEqual(['--a=1']);
    expect(toFlags({ 'feature-gates': 'A=true', '--v': '4', multi: ['x', 'y'] })).toEqual([
      '--feature-gates=A=true',
      '--v=4',
      '--multi=x',
      '--multi=y',
    ]);
    expect(toFlags(undefined)).toEqual([]);
  });
});

describe('component flags', () => {
  it('configures etcd on loopback with its own data dir', () => {
    const f = etcdFlags(layout);
    expect(flagValue(f, '--listen-client-urls')).toBe('http://127.0.0.1:2379');
    expect(flagValue(f, '--initial-cluster')).toBe('default=http://127.0.0.1:2380');
    expect(flagValue(f, '--data-dir')).toBe('/data/etcd');
  });

  it('configures kube-apiserver TLS, service accounts, audit and the aggregation layer', () => {
    const f = apiserverFlags(layout);
    expect(flagValue(f, '--bind-address')).toBe('127.0.0.1');
    expect(flagValue(f, '--secure-port')).toBe('6443');
    expect(flagValue(f, '--etcd-servers')).toBe('http://127.0.0.1:2379');
    expect(flagValue(f, '--client-ca-file')).toBe('/data/pki/ca.crt');
    expect(flagValue(f, '--service-account-issuer')).toBe('https://kubernetes.default.svc.cluster.local');
    expect(flagValue(f, '--service-account-signing-key-file')).toBe('/data/pki/sa.key');
    expect(flagValue(f, '--service-account-key-file')).toBe('/data/pki/sa.pub');
    expect(flagValue(f, '--audit-log-path')).toBe('/data/audit/audit.log');
    expect(flagValue(f, '--audit-log-format')).toBe('json');
    expect(flagValue(f, '--requestheader-client-ca-file')).toBe('/data/pki/front-proxy-ca.crt');
    expect(flagValue(f, '--requestheader-allowed-names')).toBe('front-proxy-client');
    expect(flagValue(f, '--proxy-client-cert-file')).toBe('/data/pki/front-proxy-client.crt');
    expect(flagValue(f, '--enable-aggregator-routing')).toBe('true');
  });

  it('lets extra apiserver args override defaults', () => {
    const f = apiserverFlags(layout, ['--v=6', '--enable-admission-plugins=ValidatingAdmissionWebhook']);
    expect(f.filter((x) => x.startsWith('--v='))).toEqual(['--v=6']);
    expect(flagValue(f, '--enable-admission-plugins')).toBe('ValidatingAdmissionWebhook');
  });

  it('configures the controller manager as kubeadm does, without leader election', () => {
    const f = controllerManagerFlags(layout);
    expect(flagValue(f, '--leader-elect')).toBe('false');
    expect(flagValue(f, '--controllers')).toBe('*');
    expect(flagValue(f, '--use-service-account-credentials')).toBe('true');
    expect(flagValue(f, '--root-ca-file')).toBe('/data/pki/ca.crt');
    expect(flagValue(f, '--service-account-private-key-file')).toBe('/data/pki/sa.key');
    expect(flagValue(f, '--kubeconfig')).toBe('/data/controller-manager.kubeconfig');
  });

  it('configures the scheduler and kwok', () => {
    expect(flagValue(schedulerFlags(layout), '--leader-elect')).toBe('false');
    const k = kwokFlags(layout);
    expect(flagValue(k, '--manage-nodes-with-annotation-selector')).toBe('kwok.x-k8s.io/node=fake');
    expect(flagValue(k, '--config')).toBe('/data/kwok/kwok.yaml');
    expect(flagValue(k, '--manage-all-nodes')).toBe('false');
  });
});

describe('audit policy', () => {
  it('logs write verbs at Metadata and nothing else', () => {
    expect(AUDIT_POLICY_YAML).toContain('level: Metadata');
    expect(AUDIT_POLICY_YAML).toContain('verbs: ["create", "update", "patch", "delete", "deletecollection"]');
    expect(AUDIT_POLICY_YAML.trim().endsWith('- level: None')).toBe(true);
  });
});
