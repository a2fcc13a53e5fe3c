import { randomBytes } from 'node:crypto'
import type { Account, FindAccount } from 'oidc-provider'

export interface DevUser {
  password: string
  /** The second factor a step-up asks for (acr_values with the two-factor class). */
  oneTimeCode: string
  claims: { name: string; email: string; [claim: string]: unknown }
}

export type DevUsers = Record<string, DevUser>

export function devOnlyPassword(): string {
  return `dev-only-${randomBytes(9).toString('base64url')}`
}

/** Six digits, new at every start: the dev provider's stand-in for an authenticator app. */
export function devOnlyCode(): string {
  return String(randomBytes(4).readUInt32BE() % 1_000_000).padStart(6, '0')
}

/** alice and bob with passwords that change at every start, so none is ever reused. */
export function defaultDevUsers(): DevUsers {
  return {
    alice: {
      password: devOnlyPassword(),
      oneTimeCode: devOnlyCode(),
      claims: {
        name: 'Alice Example',
        given_name: 'Alice',
        family_name: 'Example',
        email: 'alice@example.com',
        email_verified: true,
      },
    },
    bob: {
      password: devOnlyPassword(),
      oneTimeCode: devOnlyCode(),
      claims: {
        name: 'Bob Example',
        given_name: 'Bob',
        family_name: 'Example',
        email: 'bob@example.com',
        email_verified: true,
      },
    },
  }
}

/** The account id is the user name; `sub` is the account id. */
export function createFindAccount(users: DevUsers): FindAccount {
  return async (_ctx, id) => {
    const user = users[id]
    if (!user) return undefined
    const account: Account = {
      accountId: id,
      claims: async () => ({ ...user.claims, sub: id }),
    }
    return account
  }
}

export function checkPassword(users: DevUsers, username: string, password: string): boolean {
  const user = Object.hasOwn(users, username) ? users[username] : undefined
  return user !== undefined && user.password === password
}

export function checkOneTimeCode(users: DevUsers, username: string, code: string): boolean {
  const user = Object.hasOwn(users, username) ? users[username] : undefined
  return user !== undefined && user.oneTimeCode === code
}
