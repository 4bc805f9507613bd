import { KubeConfig } from '@kubernetes/client-node';
export function loadKubeConfig(): KubeConfig { const kc = new KubeConfig(); kc.loadFromDefault(); return kc; }
