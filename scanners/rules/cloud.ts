import type { Rule } from '../types.js';

export const cloudRules: Rule[] = [
  {
    // Key IDs: a 4-letter prefix (AKIA long-term, ASIA temporary, ABIA/ACCA service) + 16 base32 characters.
    // Not when followed by a SigV4 credential scope (`AKIA…/20190814/us-west-2/s3/aws4_request`,
    // URL-encoded in presigned URLs): that is a signature made with the key, never the key itself.
    id: 'aws-access-key-id',
    description: 'AWS access key ID',
    provider: 'aws',
    keywords: ['akia', 'asia', 'abia', 'acca'],
    pattern: '(?<![A-Za-z0-9])(?<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])(?!(?:/|%2[Ff])\\d{8}(?:/|%2[Ff]))',
    validate: 'aws-access-key-id',
    entropy: 3,
    migrate: 'aws',
    truePositives: ['aws_access_key_id = AKIAVYLBOMNYD4D2BYFQ', '"AccessKeyId": "AKIAVYLBOMNYD4D2BYFQ"'],
    falsePositives: [
      'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
      'AKIAVYLBOMNYD4D2BYF',
      'XAKIAVYLBOMNYD4D2BYFQ',
      'akiavylbomnyd4d2byfq',
      'https://bucket.s3.amazonaws.com/layer?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAVYLBOMNYD4D2BYFQ%2F20190814%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Signature=5d1f',
      'Authorization: AWS4-HMAC-SHA256 Credential=AKIAVYLBOMNYD4D2BYFQ/20130524/us-east-1/s3/aws4_request, SignedHeaders=host',
    ],
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
    truePositives: [
      'aws_secret_access_key = ah5ABArfikyinN0rpTeijLa4Focj+kDKUqABZWBx',
      '"SecretAccessKey": "ah5ABArfikyinN0rpTeijLa4Focj+kDKUqABZWBx"',
      'AWS_SECRET_ACCESS_KEY=ah5ABArfikyinN0rpTeijLa4Focj+kDKUqABZWBx',
    ],
    falsePositives: [
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}',
      'aws_secret_access_key = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    ],
  },
  {
    id: 'aws-session-token',
    description: 'AWS session token',
    provider: 'aws',
    keywords: ['session_token', 'sessiontoken', 'security_token'],
    pattern:
      // AWS's documentation tokens carry the word EXAMPLE (`…//////////wEXAMPLEtMSJH…`); real ones, random base64, do not.
      '(?:aws_?session_?token|session_?token|aws_?security_?token|security_?token)["\'`]?\\s{0,4}(?:[:=]|=>|:=)\\s{0,4}["\'`]?(?<secret>(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|FQoGZXIvYXdzE)(?![A-Za-z0-9/+=]{0,2000}?EXAMPLE)[A-Za-z0-9/+=]{100,2000})',
    flags: 'i',
    entropy: 4,
    filters: false, // real session tokens contain runs like "//////////"
    migrate: 'aws',
    truePositives: [
      'aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDz3Hf8bJ0aXq2Lr9oQz8m4v7Yt1xWc6N5sK0pE3uG9AiB0vJ2hY4mR8kL1nT7qZ3wX6cF9dS5aP0eU2iO4jH8gKyqGAgiT//////////ARAAGgw1MzQ3ODkwMTIzNDUiDK9',
    ],
    falsePositives: [
      'aws_session_token = ${AWS_SESSION_TOKEN}',
      'session_token = IQoJb3JpZ2luX2Vj',
      '"SessionToken": "IQoJb3JpZ2luX2VjEOz////////////////////wEXAMPLEtMSJHMEUCIDoKK3JH9uGQE1z0sINr5M4jk+Na8KHDcCYRVjJCZEvOAiEA3OvJGtw1EcViOleS2vhs8VdCKFJQWPQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+sc"',
    ],
  },
];
