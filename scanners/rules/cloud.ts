import type { Rule } from '../types.js';

export const cloudRules: Rule[] = [
  {
    // Key IDs: a 4-letter prefix (AKIA long-term, ASIA temporary, ABIA/ACCA service) + 16 base32 characters.
    id: 'aws-access-key-id',
    description: 'AWS access key ID',
    provider: 'aws',
    keywords: ['akia', 'asia', 'abia', 'acca'],
    pattern: '(?<![A-Za-z0-9])(?<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])',
    validate: 'aws-access-key-id',
    entropy: 3,
    migrate: 'aws',
    truePositives: ['aws_access_key_id = AKIAVYLBOMNYD4D2BYFQ', '"AccessKeyId": "AKIAVYLBOMNYD4D2BYFQ"'],
    falsePositives: ['aws_access_key_id = AKIAIOSFODNN7EXAMPLE', 'AKIAVYLBOMNYD4D2BYF', 'XAKIAVYLBOMNYD4D2BYFQ', 'akiavylbomnyd4d2byfq'],
  },
  {
    // 40 characters of base64 next to a name that says what it is.
    id: 'aws-secret-access-key',
    description: 'AWS secret access key',
    provider: 'aws',
    keywords: ['secret_access_key', 'secretaccesskey', 'secret-access-key', 'aws_secret', 'aws-secret', 'awssecret'],
    pattern:
      '(?:secret_?access_?key|secret-access-key|aws_?secret(?:_?key)?|aws-secret(?:-key)?)["\'`]?\\s{0,4}(?:[:=]|=>|:=)\\s{0,4}["\'`]?(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])',
    flags: 'i',
    entropy: 4,
    migrate: 'aws',
    truePositives: ['aws_secret_access_key = ah5ABArfikyinN0rpTeijLa4Focj+kDKUqABZWBx', '"SecretAccessKey": "ah5ABArfikyinN0rpTeijLa4Focj+kDKUqABZWBx"', 'AWS_SECRET_ACCESS_KEY=ah5ABArfikyinN0rpTeijLa4Focj+kDKUqABZWBx'],
    falsePositives: ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}', 'aws_secret_access_key = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
  },
  {
    id: 'aws-session-token',
    description: 'AWS session token',
    provider: 'aws',
    keywords: ['session_token', 'sessiontoken', 'security_token'],
    pattern:
      '(?:aws_?session_?token|session_?token|aws_?security_?token|security_?token)["\'`]?\\s{0,4}(?:[:=]|=>|:=)\\s{0,4}["\'`]?(?<secret>(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|FQoGZXIvYXdzE)[A-Za-z0-9/+=]{100,2000})',
    flags: 'i',
    entropy: 4,
    filters: false, // real session tokens contain runs like "//////////"
    migrate: 'aws',
    truePositives: [
      'aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDz3Hf8bJ0aXq2Lr9oQz8m4v7Yt1xWc6N5sK0pE3uG9AiB0vJ2hY4mR8kL1nT7qZ3wX6cF9dS5aP0eU2iO4jH8gKyqGAgiT//////////ARAAGgw1MzQ3ODkwMTIzNDUiDK9',
    ],
    falsePositives: ['aws_session_token = ${AWS_SESSION_TOKEN}', 'session_token = IQoJb3JpZ2luX2Vj'],
  },
];
