// The API's JSON shapes, named for the dashboard. They come from the OpenAPI
// document: api-types.ts is generated from docs/openapi.json by
// openapi-typescript (`npm run types`, or `make generated` from the root) and
// `npm run check:types` (part of `npm run build`) fails when it is stale.
// Only what the client adds of its own is written here.

import { type components, messageRoleValues } from "./api-types";

type Schemas = components["schemas"];

export type Role = Schemas["UserRole"];
export type MessageRole = Schemas["MessageRole"];
/** What a role may do; the rules live in the API (shared/src/domain/permissions.rs). */
export type Permission = Schemas["Permission"];

export type Org = Schemas["Org"];
export type UserProfile = Schemas["UserProfile"];
/** Who is signed in, what they may do and which roles they may give. */
export type Me = Schemas["Me"];

/** A chat as `GET /chats/{chat_id}` answers it. */
export type Chat = Schemas["Chat"];
/** A chat as `GET /chats` lists it: with its message count and last activity. */
export type ListedChat = Schemas["ListedChat"];
export type Message = Schemas["Message"];

export type ApiKey = Schemas["ApiKey"];
export type CreatedApiKey = Schemas["CreatedApiKey"];
export type KeyDataDeleted = Schemas["KeyDataDeletedResponse"];

export type ExportFormat = Schemas["ExportFormat"];
export type ExportStatus = Schemas["ExportStatus"];
export type ExportJob = Schemas["ExportJob"];

export type Summary = Schemas["Summary"];
export type RoleCounts = Schemas["RoleCounts"];

/**
 * A page of any listing. The document names one schema per item type
 * (`Paged_Org`, `Paged_ListedChat`...), all alike but for their items.
 */
export type Paged<T> = Omit<Schemas["Paged_Org"], "items"> & { items: T[] };

/** Every message role, in the API's order. */
export const MESSAGE_ROLES: readonly MessageRole[] = messageRoleValues;

/** Whether the signed-in user may do `permission`, as GET /users/me says. */
export function can(me: Me, permission: Permission): boolean {
  return me.permissions.includes(permission);
}
