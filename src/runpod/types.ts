/**
 * The parts of RunPod's REST v2 wire format posefactory reads and writes (OpenAPI:
 * runpod/docs api-reference-v2/openapi.json). Responses are validated loosely (passthrough):
 * the API may add fields, and we only rely on the ones named here.
 */
import { z } from "zod";

export const POD_STATUSES = [
  "PROVISIONING",
  "STARTING",
  "RUNNING",
  "EXITED",
  "ERROR",
  "TERMINATED",
] as const;
export type PodStatus = (typeof POD_STATUSES)[number];

export type PodAction = "start" | "stop" | "restart" | "terminate";
export type Cloud = "SECURE" | "COMMUNITY";

const sshEndpointSchema = z.looseObject({
  host: z.string(),
  port: z.number().int(),
  username: z.string(),
  command: z.string().optional(),
});
export type SshEndpoint = z.infer<typeof sshEndpointSchema>;

export const podSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(POD_STATUSES),
  actions: z.array(z.string()).default([]),
  image: z.string().optional(),
  env: z.record(z.string(), z.string()).nullish(),
  gpu: z.looseObject({ id: z.string(), count: z.number().int().optional() }).nullish(),
  cloud: z.string().optional(),
  dataCenterId: z.string().nullish(),
  ssh: z
    .looseObject({
      proxy: sshEndpointSchema.nullish(),
      direct: sshEndpointSchema.nullish(),
    })
    .nullish(),
  /** USD per hour; 0 when EXITED or TERMINATED. */
  cost: z.number().default(0),
  createdAt: z.string(),
  startedAt: z.string().nullish(),
});
export type Pod = z.infer<typeof podSchema>;

export const listPodsSchema = z.looseObject({ pods: z.array(podSchema) });

export const gpuTypeSchema = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  secure: z.boolean().optional(),
  community: z.boolean().optional(),
  /** List price per GPU per hour, per cloud. */
  price: z.looseObject({ secure: z.number(), community: z.number() }),
  availability: z.enum(["NONE", "LOW", "MEDIUM", "HIGH"]).optional(),
  dataCenters: z
    .array(
      z.looseObject({
        id: z.string(),
        availability: z.enum(["NONE", "LOW", "MEDIUM", "HIGH"]).optional(),
      }),
    )
    .optional(),
});
export type GpuType = z.infer<typeof gpuTypeSchema>;

/** CreatePodRequest: unknown properties are rejected by the API (422), so only these. */
export interface CreatePodRequest {
  name: string;
  image: string;
  gpu: { id: string; count: number };
  cloud: Cloud;
  disk: number;
  ports: string[];
  env: Record<string, string>;
  dataCenterIds?: string[];
  mounts?: {
    persistent?: { size: number; path: string };
    network?: { volumeId: string; path: string }[];
  };
}

/** application/problem+json error body. */
export const problemSchema = z.looseObject({
  title: z.string().optional(),
  status: z.number().optional(),
  detail: z.string().optional(),
  errors: z.array(z.string()).optional(),
});

export interface LogLine {
  ts?: string;
  source?: string;
  line: string;
}
