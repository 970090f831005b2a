// The API's JSON shapes (GET /openapi.json), as far as the dashboard reads them.

export type Role = "superadmin" | "admin" | "user" | "viewer";
export type MessageRole = "user" | "assistant" | "system" | "tool";
export const MESSAGE_ROLES: MessageRole[] = ["user", "assistant", "system", "tool"];

export interface Paged<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Org {
  id: string;
  slug: string;
  name: string;
  settings: Record<string, unknown>;
  created_at: string;
}

export interface UserProfile {
  id: string;
  email: string;
  role: Role;
  disabled: boolean;
  display_name?: string | null;
  created_at: string;
}

/** What a role may do; the rules live in the API (shared/src/domain/permissions.rs). */
export type Permission =
  | "read_all_chats"
  | "read_own_chats"
  | "edit_all_chats"
  | "edit_own_chats"
  | "delete_chats"
  | "read_analytics"
  | "export"
  | "manage_keys"
  | "manage_users"
  | "manage_org"
  | "manage_all_orgs";

export interface Me {
  user: UserProfile;
  org: Org;
  /** What the signed-in user's role may do. */
  permissions: Permission[];
  /** The roles they may give to others (and whose holders they may manage). */
  grantable_roles: Role[];
}

export interface Chat {
  id: string;
  title?: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  user_id?: string | null;
  created_at: string;
  // Filled in by the chats listing (GET /chats), not by GET /chats/{id}.
  message_count?: number;
  // False when the count is a lower bound: the listing's read budget (1,000
  // units a page) ran out before the chat's first message. Shown as "60+".
  message_count_exact?: boolean;
  last_message_at?: string | null;
}

export interface Message {
  id: string;
  chat_id: string;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown>;
  latency_ms?: number | null;
  token_count?: number | null;
  created_at: string;
}

export interface ApiKey {
  id: string;
  label: string;
  prefix: string;
  created_at: string;
  last_used_at?: string | null;
  revoked_at?: string | null;
}

export interface CreatedApiKey extends ApiKey {
  secret: string;
}

export type ExportFormat = "csv" | "json" | "ndjson";
export type ExportStatus = "queued" | "running" | "completed" | "failed";

export interface ExportJob {
  id: string;
  format: ExportFormat;
  filters: { from?: string | null; to?: string | null; tags?: string[]; chat_ids?: string[] };
  status: ExportStatus;
  rows_written: number;
  bytes_written: number;
  attempts: number;
  error?: string | null;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export type RoleCounts = Record<MessageRole, number>;

export interface Summary {
  org_id: string;
  from: string;
  to: string;
  totals: { messages: number; chats: number; tokens: number };
  days: { date: string; messages: number; chats: number }[];
  messages_by_role: RoleCounts;
  tokens: { total: number; by_role: RoleCounts };
  latency: {
    count: number;
    average_ms?: number | null;
    p50_ms?: number | null;
    p95_ms?: number | null;
    p99_ms?: number | null;
    resolution: string;
  };
  top_users: { user_id: string; messages: number }[];
  top_tags: { tag: string; chats: number }[];
  // How far each top count may be below its true count: 0 (exact) unless
  // some day of the range had more than 32 distinct end users (or tags).
  top_users_error_bound: number;
  top_tags_error_bound: number;
}

/** Whether the signed-in user may do `permission`, as GET /users/me says. */
export function can(me: Me, permission: Permission): boolean {
  return me.permissions.includes(permission);
}
