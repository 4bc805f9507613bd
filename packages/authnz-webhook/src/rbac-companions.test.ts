/**
 * The RBAC companions shipped in manifests/authnz-webhook/rbac.yaml hold nothing the overlay denies
 * outside protected namespaces (docs/authnz-webhook.md#authnz-rbac-companions): every (group, resource, verb) of every
 * rule is evaluated for the role the ClusterRole is bound to, in an unprotected namespace (namespaced
 * resources) or at cluster scope (cluster-scoped resources).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { configYaml } from '../test/helpers';
import { authorize, compilePolicy } from './authorize';
import { parseConfig } from './config';

const file = path.resolve(__dirname, '../../../manifests/authnz-webhook/rbac.yaml');
const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());
const policy = compilePolicy(parseConfig(configYaml()));
const CLUSTER_SCOPED = new Set([
  'namespaces',
  'nodes',
  'persistentvolumes',
  'clusterroles',
  'clusterrolebindings',
  'storageclasses',
  'priorityclasses',
  'customresourcedefinitions',
  'ingressclasses',
]);

const bindings = docs.filter((d) => d.kind === 'ClusterRoleBinding');
const companions = docs.filter((d) => d.kind === 'ClusterRole' && d.metadata.name !== 'kubeaws:authnz-webhook');

describe('RBAC companions agree with the overlay', () => {
  it('binds the role groups as AUTHNZ-RBAC-COMPANIONS says', () => {
    const byRole = Object.fromEntries(
      bindings.map((b) => [b.roleRef.name, b.subjects.map((s: { name: string }) => s.name)]),
    );
    expect(byRole).toEqual({
      'kubeaws:readonly': ['ReadOnly'],
      'kubeaws:poweruser': ['PowerUser', 'Manual', 'Emergency'],
      'cluster-admin': ['Administrator'],
    });
  });

  it.each(companions.map((c) => [c.metadata.name, c]))('%s holds no rule the overlay denies', (_name, role) => {
    const groups = bindings
      .find((b) => b.roleRef.name === role.metadata.name)
      .subjects.map((s: { name: string }) => s.name) as string[];
    const conflicts: string[] = [];
    let checked = 0;
    for (const g of groups) {
      for (const rule of role.rules) {
        for (const group of rule.apiGroups)
          for (const res of rule.resources)
            for (const verb of rule.verbs) {
              const [resource, subresource = ''] = res.split('/');
              const namespace = CLUSTER_SCOPED.has(resource) ? '' : 'team-a';
              const d = authorize(
                {
                  user: 'oidc:x',
                  groups: [g],
                  uid: '',
                  extra: {},
                  resource: { namespace, verb, group, version: 'v1', resource, subresource, name: '' },
                },
                policy,
              );
              checked++;
              if (d.decision === 'deny') conflicts.push(`${g}: ${verb} ${res}.${group} -> ${d.rule}`);
            }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(conflicts).toEqual([]);
  });

  it('has no wildcards and no impersonate, escalate or bind anywhere', () => {
    for (const c of companions)
      for (const r of c.rules) {
        for (const f of ['apiGroups', 'resources', 'verbs']) expect(r[f]).not.toContain('*');
        for (const v of ['impersonate', 'escalate', 'bind']) expect(r.verbs).not.toContain(v);
      }
  });
});
