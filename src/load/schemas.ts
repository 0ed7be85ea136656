// JSON Schemas (draft-07, checked by ajv) for the two inputs. They check
// shape only; meaning (group names known to the catalog, address syntax, port
// ranges, feature gates) is checked by the loaders with positions and hints.

const identifier = { type: 'string', pattern: '^[a-z][a-z0-9_]{0,30}$' } as const;

/** "22", 22, "20000-65535": one port or an inclusive range. */
const portSpec = {
  description: "a port number 1-65535 or a range 'LO-HI', e.g. 22 or \"20000-65535\"",
  oneOf: [
    { type: 'integer', minimum: 1, maximum: 65535 },
    { type: 'string', pattern: '^[0-9]{1,5}(-[0-9]{1,5})?$' },
  ],
} as const;

const transportName = {
  description: 'tcp, udp, sctp, icmp, icmpv6, esp, ah, gre, ipip, vrrp, or the IP protocol number',
  oneOf: [
    { type: 'string', minLength: 1, maxLength: 16 },
    { type: 'integer', minimum: 0, maximum: 255 },
  ],
} as const;

const transportsSchema = {
  description: 'One transport or a list (default tcp). tcp, udp and sctp take ports; icmp and icmpv6 take icmp_types (default: any type); esp, ah, gre, ipip and vrrp have no ports.',
  default: 'tcp',
  oneOf: [transportName, { type: 'array', minItems: 1, maxItems: 10, items: transportName }],
} as const;

const icmpTypesSchema = {
  description: 'ICMP/ICMPv6 message types (names such as echo-request, or numbers 0-255); absent: every type.',
  type: 'array',
  minItems: 1,
  items: { oneOf: [{ type: 'string', minLength: 1, maxLength: 32 }, { type: 'integer', minimum: 0, maximum: 255 }] },
} as const;

export const catalogSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.dev/schema/catalog.json',
  title: 'portcullis port catalog',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'tables', 'groups', 'rules'],
  properties: {
    name: identifier,
    title: { type: 'string' },
    document: { type: 'string', description: 'The document the catalog transcribes.' },
    host: { ...identifier, description: 'The group whose members run the firewall (the nodes). A catalog gives host or roles.' },
    roles: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: identifier,
      description: 'The firewalled host roles (control plane and workers, servers and agents, ...), each a group; every target compiles one policy per role. A catalog gives host (one role) or roles.',
    },
    tables: {
      type: 'object',
      description: 'The document tables rules cite, by short id (T1, T2, ...).',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Z][A-Za-z0-9]{0,7}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['heading'],
        properties: {
          heading: { type: 'string', minLength: 1 },
          line: { type: 'integer', minimum: 1, description: 'Line of the table header in the document.' },
          note: { type: 'string' },
        },
      },
    },
    groups: {
      type: 'object',
      minProperties: 1,
      propertyNames: identifier,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          default: { type: 'array', items: { type: 'string' } },
          union: {
            type: 'array',
            minItems: 1,
            items: identifier,
            description: "The group is the union of these groups (e.g. 'All nodes' of several roles); the profile gives its members' addresses, never its own.",
          },
        },
      },
    },
    features: {
      type: 'object',
      propertyNames: identifier,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['default'],
        properties: {
          description: { type: 'string' },
          default: { type: 'boolean' },
        },
      },
    },
    params: {
      type: 'object',
      propertyNames: identifier,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['kind', 'default'],
        properties: {
          description: { type: 'string' },
          kind: { enum: ['port', 'port-range'] },
          choices: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, minItems: 1 },
          default: portSpec,
        },
      },
    },
    rules: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'table', 'from', 'to'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
          table: { type: 'string' },
          row: { type: 'integer', minimum: 1, description: 'Row number within its table (1-based).' },
          prose: { type: 'string', description: 'For a rule the document states in prose, not in a table row: the sentence.' },
          cells: {
            type: 'object',
            description: "The document row's cells, verbatim.",
            additionalProperties: false,
            properties: {
              port: { type: 'string' },
              protocol: { type: 'string' },
              service: { type: 'string' },
              direction: { type: 'string' },
              source: { type: 'string' },
              destination: { type: 'string' },
              description: { type: 'string' },
            },
          },
          service: { type: 'string', description: 'Short name for a prose rule (rows use cells.service).' },
          description: { type: 'string', description: 'For a prose rule (rows use cells.description).' },
          ports: {
            type: 'array',
            minItems: 1,
            items: {
              oneOf: [
                portSpec,
                {
                  type: 'object',
                  additionalProperties: false,
                  required: ['param'],
                  properties: { param: identifier },
                },
              ],
            },
          },
          transport: { $ref: '#/definitions/transports' },
          icmp_types: { $ref: '#/definitions/icmpTypes' },
          from: { $ref: '#/definitions/groupRefs' },
          to: { $ref: '#/definitions/groupRefs' },
          feature: identifier,
          anti_lockout: {
            type: 'boolean',
            description: 'The rule must always compile: it cannot be feature-gated and its source groups must be non-empty.',
          },
          note: { type: 'string', description: 'How the transcription interpreted the row.' },
        },
      },
    },
  },
  definitions: {
    transports: transportsSchema,
    icmpTypes: icmpTypesSchema,
    groupRefs: {
      type: 'array',
      minItems: 1,
      items: {
        oneOf: [
          identifier,
          {
            type: 'object',
            additionalProperties: false,
            required: ['group', 'feature'],
            properties: { group: identifier, feature: identifier },
            description: 'A group that takes part only when the feature is enabled.',
          },
        ],
      },
    },
  },
} as const;

export const profileSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.dev/schema/profile.json',
  title: 'portcullis site profile',
  type: 'object',
  additionalProperties: false,
  required: ['environment', 'groups'],
  properties: {
    environment: {
      type: 'string',
      // It becomes a directory name: no separators, no leading dot.
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
    },
    groups: {
      type: 'object',
      propertyNames: identifier,
      additionalProperties: { type: 'array', items: { type: 'string' } },
    },
    params: {
      type: 'object',
      propertyNames: identifier,
      additionalProperties: portSpec,
    },
    features: {
      type: 'object',
      propertyNames: identifier,
      additionalProperties: { type: 'boolean' },
    },
    egress: { enum: ['allow', 'restrict'], default: 'allow' },
    extra_egress: {
      type: 'array',
      description: "Outbound flows the site adds to the catalog's (DNS, NTP, a proxy...); they matter with egress: restrict.",
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['to'],
        properties: {
          to: { type: 'array', minItems: 1, items: { type: 'string' } },
          ports: { type: 'array', minItems: 1, items: portSpec },
          transport: transportsSchema,
          icmp_types: icmpTypesSchema,
          description: { type: 'string' },
        },
      },
    },
    extra_ingress: {
      type: 'array',
      description: "Inbound flows the site adds to the catalog's (a monitoring or backup agent that must reach the nodes).",
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from'],
        properties: {
          from: { type: 'array', minItems: 1, items: { type: 'string' } },
          ports: { type: 'array', minItems: 1, items: portSpec },
          transport: transportsSchema,
          icmp_types: icmpTypesSchema,
          description: { type: 'string' },
        },
      },
    },
    host: {
      type: 'object',
      additionalProperties: false,
      description: 'How the host targets (nftables, iptables, firewalld) fit the host they run on.',
      properties: {
        platform: {
          enum: ['none', 'aws', 'azure', 'gcp'],
          default: 'none',
          description: "The cloud the nodes run on: under egress: restrict its instance metadata, DNS and time endpoints stay reachable. 'none': on premises.",
        },
        trusted_interfaces: {
          type: 'array',
          maxItems: 64,
          description: 'Interfaces whose traffic portcullis leaves to their own managers (docker0, virbr0, cni0): not filtered in either direction.',
          items: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$' },
        },
        log: {
          type: 'object',
          additionalProperties: false,
          description: 'A rate-limited log line (prefix "portcullis-drop") before each final drop.',
          properties: {
            drops: { type: 'boolean', default: false },
            rate: { type: 'string', pattern: '^[1-9][0-9]{0,5}/(second|minute|hour)$', default: '10/minute' },
            group: { type: 'integer', minimum: 0, maximum: 65535, description: 'Send to NFLOG group N (ulogd, tcpdump -i nflog:N) instead of the kernel log.' },
          },
        },
        counters: { type: 'boolean', default: false, description: 'nftables: a counter on every rule, to see which catalog rows are hit.' },
      },
    },
    nftables: {
      type: 'object',
      additionalProperties: false,
      properties: {
        priority: { type: 'integer', minimum: -199, maximum: 299, default: 0, description: 'Priority of the input and output chains (0 is "filter"); above -200 so that connection tracking has run.' },
      },
    },
    iptables: {
      type: 'object',
      additionalProperties: false,
      properties: {
        hook: { enum: ['first', 'last'], default: 'first', description: 'Where the live apply puts the jumps into INPUT and OUTPUT: first (before other rules) or last (after them).' },
      },
    },
    firewalld: {
      type: 'object',
      additionalProperties: false,
      properties: {
        interfaces: {
          type: 'array',
          maxItems: 64,
          description: 'Interfaces bound to zone portcullis (besides it being the default zone).',
          items: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$' },
        },
      },
    },
    terraform: {
      type: 'object',
      additionalProperties: false,
      properties: {
        vpc_id: { type: 'string', pattern: '^vpc-[0-9a-f]{8,17}$' },
        name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$' },
        prefix_lists: {
          type: 'array',
          items: identifier,
          uniqueItems: true,
          description: "Groups whose addresses go into an AWS managed prefix list (one per family) that the rules reference, instead of one rule per address: AWS counts such a rule as the list's max entries.",
        },
      },
    },
    azure: {
      type: 'object',
      additionalProperties: false,
      properties: {
        nsg_name: { type: 'string', pattern: '^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$' },
        location: { type: 'string', pattern: '^[a-z0-9]{1,40}$' },
        load_balancer_probes: {
          type: 'boolean',
          default: true,
          description: "Allow Azure Load Balancer health probes (service tag AzureLoadBalancer, 168.63.129.16) on the TCP ports the inbound rules open; false leaves them to the deny-all.",
        },
        node_asg: {
          type: 'string',
          pattern: '^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$',
          description: 'Name the nodes by this application security group (created by the template; put the nodes\' NICs in it) instead of their address lists: no node-count ceiling.',
        },
      },
    },
  },
} as const;

/** "22/tcp", "30000-32767/tcp": what an expectation asks about (the forms
 * `explain --port` reads, and a range of ports). */
const expectationPort = {
  type: 'string',
  minLength: 1,
  maxLength: 40,
  description: "a port and transport as explain --port takes it, e.g. \"22/tcp\" or \"53/udp\", or a range \"30000-32767/tcp\"",
} as const;

/** An address, a CIDR or a group name of the catalog. */
const expectationEndpoint = {
  type: 'string',
  minLength: 1,
  maxLength: 100,
  description: 'an address (10.20.0.11), a CIDR (0.0.0.0/0) or a group name of the catalog (users)',
} as const;

/** The file of `portcullis test`: a list of expectations. Which of
 * port/expect, only and reaches an entry gives is checked by the loader
 * (src/policy-test/expectations.ts), with positions and hints. */
export const expectationsSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.dev/schema/expectations.json',
  title: 'portcullis policy test expectations',
  type: 'array',
  maxItems: 10000,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['from'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 300, description: 'What the expectation says, for the report (default: made from the entry).' },
      from: expectationEndpoint,
      to: { ...expectationEndpoint, description: 'an address, a CIDR or a group name of the catalog; with reaches: nothing it may be omitted (anywhere)' },
      port: expectationPort,
      expect: { enum: ['allow', 'deny'], description: 'with port: every address pair is allowed (allow) or none is (deny)' },
      only: {
        type: 'array',
        maxItems: 1000,
        items: expectationPort,
        description: 'allowed on exactly these ports for every address pair, and on no other port of any transport',
      },
      reaches: { enum: ['nothing'], description: 'reaches: nothing: no flow of any transport is allowed from any address of from (to any of to)' },
    },
  },
} as const;

/** The project file (portcullis.yaml): which profiles make up the
 * repository, with what catalog, targets and output directory. Paths are
 * relative to the file's own directory and must stay inside it (checked by
 * src/project.ts, with positions). */
export const projectSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.dev/schema/project.json',
  title: 'portcullis project file',
  type: 'object',
  additionalProperties: false,
  required: ['profiles'],
  properties: {
    profiles: {
      type: 'array',
      description: "Profile files, directories (their *.yaml, *.yml and *.json files) or patterns with '*' and '?' in the file name, relative to the project file.",
      minItems: 1,
      maxItems: 1000,
      items: { type: 'string', minLength: 1, maxLength: 1024 },
    },
    catalog: { type: 'string', minLength: 1, maxLength: 1024, description: 'A catalog file relative to the project file, or the name of a built-in catalog (default: thoughtspot).' },
    targets: {
      description: "'all' (the default), or a list of targets",
      oneOf: [
        { type: 'string', enum: ['all'] },
        { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'] } },
      ],
    },
    out_dir: { type: 'string', minLength: 1, maxLength: 1024, description: 'Where compile writes <environment>/<target>/, relative to the project file (default: out).' },
  },
} as const;
