/**
 * CloudFormation intrinsic functions and template types as plain objects. Templates are data: the stack builders
 * return objects that serialise 1:1 to JSON or YAML.
 */

/** Any template value. */
export type Cfn = unknown;

/** A resource of a template. */
export interface CfnResource {
  Type: string;
  Properties?: Record<string, Cfn>;
  DependsOn?: string | string[];
  Condition?: string;
  DeletionPolicy?: 'Delete' | 'Retain' | 'Snapshot';
  UpdateReplacePolicy?: 'Delete' | 'Retain' | 'Snapshot';
}

/** A parameter of a template. */
export interface CfnParameter {
  Type: string;
  Description: string;
  Default?: string | number;
  AllowedValues?: (string | number)[];
  AllowedPattern?: string;
  ConstraintDescription?: string;
  MinValue?: number;
  MaxValue?: number;
  MinLength?: number;
  MaxLength?: number;
}

/** An output of a template. */
export interface CfnOutput {
  Description: string;
  Value: Cfn;
  Export?: { Name: Cfn };
}

/** A whole template. */
export interface CfnTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Parameters: Record<string, CfnParameter>;
  Conditions?: Record<string, Cfn>;
  Resources: Record<string, CfnResource>;
  Outputs: Record<string, CfnOutput>;
}

/** `{"Ref": name}`. */
export const ref = (name: string): Cfn => ({ Ref: name });
/** `{"Fn::Sub": text}`. */
export const sub = (text: string): Cfn => ({ 'Fn::Sub': text });
/** `{"Fn::GetAtt": [resource, attribute]}`. */
export const getAtt = (resource: string, attribute: string): Cfn => ({ 'Fn::GetAtt': [resource, attribute] });
/** `{"Fn::ImportValue": {"Fn::Sub": name}}`: imports an export whose name may reference parameters. */
export const importValue = (name: string): Cfn => ({ 'Fn::ImportValue': sub(name) });
/** `{"Fn::Base64": value}`. */
export const base64 = (value: Cfn): Cfn => ({ 'Fn::Base64': value });
/** `{"Fn::If": [condition, a, b]}`. */
export const fnIf = (condition: string, a: Cfn, b: Cfn): Cfn => ({ 'Fn::If': [condition, a, b] });
/** `{"Fn::Equals": [a, b]}`. */
export const equals = (a: Cfn, b: Cfn): Cfn => ({ 'Fn::Equals': [a, b] });

/** CloudFormation tag list from a map (sorted by key, so renders are stable). */
export function tagList(tags: Record<string, Cfn>, propagate?: boolean): Cfn[] {
  return Object.keys(tags)
    .sort()
    .map((Key) =>
      propagate === undefined ? { Key, Value: tags[Key] } : { Key, Value: tags[Key], PropagateAtLaunch: propagate },
    );
}

/** PascalCase of an AZ name for logical IDs: `eu-central-1a` → `EuCentral1a`. */
export function azLogicalSuffix(az: string): string {
  return az
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

/** An IAM policy statement. */
export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  /** Absent in trust policies. */
  Resource?: Cfn;
  Principal?: Cfn;
  Condition?: Record<string, Record<string, Cfn>>;
}

/** An IAM policy document. */
export const policyDocument = (Statement: Statement[]): Cfn => ({ Version: '2012-10-17', Statement });

/** Trust policy of an instance role. */
export const ec2TrustPolicy = (): Cfn =>
  policyDocument([{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
