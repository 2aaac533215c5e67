import { content, identity, notification, socialgraph } from '@shutter/proto';

/** The part of a ts-proto generic service definition that carries the method options. */
interface ServiceDescriptor {
  fullName: string;
  methods: Record<string, { name: string; options: { idempotencyLevel?: string } }>;
}

const SERVICES: Array<ServiceDescriptor | undefined> = [
  identity.IdentityServiceDefinition,
  socialgraph.SocialGraphServiceDefinition,
  content.ContentServiceDefinition,
  notification.NotificationServiceDefinition,
];
// Code generated before buf.gen.yaml asked for generic definitions has none: say so, not a TypeError.
if (SERVICES.includes(undefined)) throw new Error('packages/proto/src/gen is stale (no generic service definitions): run `make proto`');

/**
 * Full gRPC paths (`/shutter.identity.v1.IdentityService/GetUser`) of the methods proto/ marks
 * `idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT`: the only ones a client may retry. Read
 * from the generated descriptors, so marking an rpc in its .proto is the whole change.
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(
  (SERVICES as ServiceDescriptor[]).flatMap((s) =>
    Object.values(s.methods)
      .filter((m) => m.options.idempotencyLevel === 'NO_SIDE_EFFECTS' || m.options.idempotencyLevel === 'IDEMPOTENT')
      .map((m) => `/${s.fullName}/${m.name}`),
  ),
);

/** Whether the method at this gRPC path may be retried (see IDEMPOTENT_METHODS). */
export const isIdempotentMethod = (path: string): boolean => IDEMPOTENT_METHODS.has(path);
