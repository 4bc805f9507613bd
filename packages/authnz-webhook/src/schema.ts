/**
 * JSON Schema (draft-07) of the configuration file `AuthnzConfiguration` (docs/authnz-webhook.md#authnz-config).
 * Unknown keys are errors everywhere. `description` holds the human "expected" text used in error
 * messages. Checks that JSON Schema cannot express are in `config.ts` ({@link validateSemantics}).
 */

/** Signing algorithms an issuer may allow (RS/PS/ES 256/384/512, EdDSA); never `none` or HS*. */
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const duration = { type: 'string', pattern: '^[0-9]+(ms|s|m|h)$', description: 'a duration <n>(ms|s|m|h), e.g. 30s' };
const stringList = { type: 'array', items: { type: 'string', minLength: 1 } };
const dnsLabel = {
  type: 'string',
  pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
  description: 'a DNS label (lower case alphanumerics and "-", at most 63 characters)',
};
const policyRule = {
  type: 'object',
  additionalProperties: false,
  required: ['apiGroups', 'resources', 'verbs'],
  properties: {
    apiGroups: { type: 'array', items: { type: 'string' } },
    resources: stringList,
    verbs: stringList,
    resourceNames: { type: 'array', items: { type: 'string' } },
  },
};

/** The schema object, usable with any draft-07 validator. */
export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://kubeaws.io/schemas/authnz-webhook/v1alpha1/AuthnzConfiguration.json',
  title: 'AuthnzConfiguration',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { const: 'authnz.kubeaws.io/v1alpha1', description: 'authnz.kubeaws.io/v1alpha1' },
    kind: { const: 'AuthnzConfiguration', description: 'AuthnzConfiguration' },
    protectedNamespaces: { type: 'array', items: dnsLabel },
    authentication: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tokenMaxBytes: { type: 'integer', minimum: 1, maximum: 65536 },
        clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 60 },
        cache: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ttl: duration,
            negativeTtl: duration,
            maxEntries: { type: 'integer', minimum: 0, maximum: 10000000 },
          },
        },
        issuers: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'issuer', 'audiences'],
            properties: {
              name: dnsLabel,
              issuer: { type: 'string', minLength: 1 },
              jwksURL: { type: 'string' },
              caFile: { type: 'string' },
              audiences: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
              kubernetesAudiences: stringList,
              algorithms: {
                type: 'array',
                minItems: 1,
                items: { enum: [...ALLOWED_ALGORITHMS] },
              },
              typ: { type: 'string' },
              maxTokenAge: duration,
              claims: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  username: {
                    type: 'object',
                    additionalProperties: false,
                    properties: { claim: { type: 'string', minLength: 1 }, prefix: { type: 'string' } },
                  },
                  groups: {
                    type: 'object',
                    additionalProperties: false,
                    properties: { claim: { type: 'string', minLength: 1 }, prefix: { type: 'string' } },
                  },
                  uid: {
                    type: 'object',
                    additionalProperties: false,
                    properties: { claim: { type: 'string', minLength: 1 } },
                  },
                },
              },
              keys: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  refreshInterval: duration,
                  staleIfError: duration,
                  refetchCooldown: duration,
                  fetchTimeout: duration,
                },
              },
            },
          },
        },
        tokeninfo: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'url'],
            properties: {
              name: dnsLabel,
              url: { type: 'string', minLength: 1 },
              issuer: { type: 'string' },
              opaque: { type: 'boolean' },
              timeout: duration,
              caFile: { type: 'string' },
              requiredScopes: stringList,
              realms: {
                type: 'object',
                additionalProperties: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    usernamePrefix: { type: 'string' },
                    groups: stringList,
                  },
                },
              },
            },
          },
        },
        nodes: {
          type: 'object',
          additionalProperties: false,
          required: ['clusterID', 'workerRoleARN', 'regions'],
          properties: {
            clusterID: { type: 'string', minLength: 1 },
            workerRoleARN: { type: 'string', pattern: '^arn:[a-z-]+:iam::[0-9]{12}:role/([^/]+/)*[^/]+$' },
            regions: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$' } },
            tokenMaxBytes: { type: 'integer', minimum: 256, maximum: 65536 },
            timeout: duration,
          },
        },
      },
    },
    roles: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mapping: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['role'],
            properties: {
              group: { type: 'string', minLength: 1 },
              allOf: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
              user: { type: 'string', minLength: 1 },
              role: { type: 'string' },
            },
          },
        },
      },
    },
    authorization: {
      type: 'object',
      additionalProperties: false,
      properties: {
        roles: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ReadOnly: {
              type: 'object',
              additionalProperties: false,
              required: ['allow'],
              properties: { allow: { type: 'array', items: policyRule } },
            },
            PowerUser: {
              type: 'object',
              additionalProperties: false,
              required: ['allow'],
              properties: { allow: { type: 'array', items: policyRule } },
            },
          },
        },
        extraDenyRules: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'apiGroups', 'resources', 'verbs'],
            properties: {
              name: dnsLabel,
              roles: { type: 'array', items: { enum: ['ReadOnly', 'PowerUser', 'Manual', 'Emergency', 'none'] } },
              apiGroups: { type: 'array', items: { type: 'string' } },
              resources: stringList,
              verbs: stringList,
              namespaces: { type: 'array', items: { type: 'string' } },
            },
          },
        },
        systemUsers: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['user', 'rules'],
            properties: {
              user: { type: 'string', minLength: 1 },
              rules: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['apiGroups', 'resources', 'verbs'],
                  properties: {
                    apiGroups: { type: 'array', items: { type: 'string' } },
                    resources: stringList,
                    verbs: stringList,
                    namespaces: { type: 'array', items: { type: 'string' } },
                    resourceNames: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      },
    },
    emergencyAccess: {
      type: 'object',
      additionalProperties: false,
      properties: {
        namespace: dnsLabel,
        manual: {
          type: 'object',
          additionalProperties: false,
          properties: {
            requesterGroups: stringList,
            approverGroups: stringList,
            defaultDuration: duration,
            maxDuration: duration,
            approvalTimeout: duration,
          },
        },
        emergency: {
          type: 'object',
          additionalProperties: false,
          properties: {
            requesterGroups: stringList,
            incidentPattern: { type: 'string', minLength: 1 },
            defaultDuration: duration,
            maxDuration: duration,
          },
        },
        retention: duration,
      },
    },
    logging: {
      type: 'object',
      additionalProperties: false,
      properties: { decisions: { enum: ['privileged', 'all'] } },
    },
  },
} as const;
