/**
 * The dev OpenID provider (oidc-provider) in a process of its own, so chaos.ts can stop it
 * (SIGSTOP) and let it go on (SIGCONT) with its grants intact, as a provider that hangs.
 */
import { type DevProviderOptions, startDevProvider } from '../../demo/provider/create-provider.js'
import { announceReady, fail, onShutdown, settings } from '../lib/child.js'

const options = settings<DevProviderOptions>()

startDevProvider(options)
  .then((provider) => {
    onShutdown(() => provider.stop())
    announceReady({ issuer: provider.issuer, users: provider.users })
  })
  .catch(fail)
